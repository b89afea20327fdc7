//! Presence queries, server-reported presence and kicks.

use std::collections::HashMap;
use std::time::Duration;

use herald_core::bus::{BusMessage, ControlEvent};
use herald_core::presence::{Presence, PresenceChange};
use herald_core::store::UserRecord;
use herald_core::{AppId, Error, Millis, Platform, Result, UserId};

use crate::Herald;

/// What the app server says about a user's platform.
#[derive(Clone, Debug)]
pub enum PresenceReport {
    /// Online on `platform` until `ttl` passes (or another report refreshes it).
    Online { platform: Platform, ttl: Duration, background: bool },
    /// Offline on `platform`, or on every reported platform.
    Offline { platform: Option<Platform> },
}

impl Herald {
    /// The presence of each user, in input order; `None` for users not registered in the app. A call made on
    /// behalf of a user needs that user registered.
    pub async fn presences(
        &self,
        app: &AppId,
        on_behalf_of: Option<&UserId>,
        users: &[UserId],
    ) -> Result<Vec<Option<Presence>>> {
        if let Some(asking) = on_behalf_of {
            self.require_registered(app, asking).await?;
        }
        let records: HashMap<UserId, UserRecord> =
            self.store.get_users(app, users).await?.into_iter().map(|r| (r.user_id.clone(), r)).collect();
        let states = self.registry.get(app, users).await?;
        Ok(users
            .iter()
            .zip(states)
            .map(|(user, state)| {
                let record = records.get(user)?;
                Some(match state {
                    Some(state) => {
                        let mut p = state.presence(user.clone());
                        if !p.view.online {
                            p.last_seen = p.last_seen.max(record.last_seen);
                        }
                        p
                    }
                    None => Presence::offline(user.clone(), record.last_seen),
                })
            })
            .collect())
    }

    /// Like [`Herald::presences`], but an unregistered user fails the call.
    pub async fn require_presences(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Presence>> {
        self.presences(app, None, users)
            .await?
            .into_iter()
            .zip(users)
            .map(|(p, u)| p.ok_or_else(|| Error::UserNotFound(u.clone())))
            .collect()
    }

    /// Apply the app server's report about a user and return the user's presence after it.
    pub async fn report_presence(&self, app: &AppId, user: &UserId, report: PresenceReport) -> Result<Presence> {
        self.require_registered(app, user).await?;
        let change = match report {
            PresenceReport::Online { platform, ttl, background } => {
                PresenceChange::Report { platform, ttl: ttl.as_millis() as Millis, background, node: self.node.clone() }
            }
            PresenceReport::Offline { platform } => PresenceChange::ReportOffline { platform },
        };
        self.change_presence(app, user, change).await?;
        let mut out = self.require_presences(app, std::slice::from_ref(user)).await?;
        Ok(out.remove(0))
    }

    /// Close a registered user's connections (on one platform, or all) on every node; returns how many records
    /// went.
    pub async fn kick(&self, app: &AppId, user: &UserId, platform: Option<Platform>, reason: &str) -> Result<usize> {
        self.require_registered(app, user).await?;
        let kicked = self.close_connections(app, user, platform, reason).await?;
        let platform = platform.map(|p| p.name()).unwrap_or("all");
        tracing::info!(%app, %user, platform, kicked, reason, "kicked a user's connections");
        Ok(kicked)
    }

    /// Take a user's connections offline at once and tell the nodes holding them to close their sockets.
    pub(crate) async fn close_connections(
        &self,
        app: &AppId,
        user: &UserId,
        platform: Option<Platform>,
        reason: &str,
    ) -> Result<usize> {
        let t = self.change_presence(app, user, PresenceChange::Kick { platform }).await?;
        let message = BusMessage::Control {
            app: app.clone(),
            user: user.clone(),
            event: ControlEvent::Kick { platform, reason: reason.to_owned() },
        };
        self.bus.publish(message).await?;
        Ok(t.removed.len())
    }
}
