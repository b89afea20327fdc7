//! The life of a client connection: connect, change state, disconnect.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use herald_core::bus::BusMessage;
use herald_core::event::PresenceEvent;
use herald_core::paging::PageRequest;
use herald_core::presence::{ChangeCause, ConnectionRecord, PresenceChange, Transition};
use herald_core::subscription::SubscriptionKind;
use herald_core::{App, AppId, ConnectionId, Millis, Platform, Result, UserId};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::hub::Outbound;
use crate::hub::LocalConn;
use crate::{Herald, now_millis};

/// A client connection open on this node. The adapter reads `outbound` and writes it to the socket, and closes the
/// socket when `closed()` resolves.
pub struct ClientConnection {
    pub app: Arc<App>,
    pub user: UserId,
    pub platform: Platform,
    pub id: ConnectionId,
    pub outbound: mpsc::Receiver<Outbound>,
    seq: u64,
    local: Arc<LocalConn>,
}

impl ClientConnection {
    /// Resolves when the service wants the connection closed (kicked, slow consumer).
    pub async fn closed(&self) {
        self.local.closer.cancelled().await
    }

    /// A handle that resolves like [`ClientConnection::closed`] without borrowing the connection.
    pub fn close_signal(&self) -> CancellationToken {
        self.local.closer.clone()
    }

    pub fn close_reason(&self) -> Option<String> {
        self.local.close_reason.lock().clone()
    }
}

impl Herald {
    /// Open a connection for a registered user: it goes online on `platform` and starts receiving the changes of
    /// everyone it subscribes to.
    pub async fn connect(&self, app: Arc<App>, user: UserId, platform: Platform, background: bool) -> Result<ClientConnection> {
        self.require_users(&app.app_id, std::slice::from_ref(&user)).await?;
        let seq = self.connection_seq.fetch_add(1, Ordering::Relaxed);
        let id = ConnectionId::new(&self.node, seq);
        let (tx, outbound) = mpsc::channel(self.config.send_queue);
        let local = Arc::new(LocalConn {
            app: app.app_id.clone(),
            user: user.clone(),
            platform,
            tx,
            closer: CancellationToken::new(),
            close_reason: Mutex::new(None),
            targets: Mutex::new(Default::default()),
        });
        self.hub.register(seq, local.clone()).await;
        let targets = self.live_targets(&app.app_id, &user).await;
        let targets = match targets {
            Ok(t) => t,
            Err(e) => {
                self.hub.unregister(seq).await;
                return Err(e);
            }
        };
        self.hub.watch(seq, &app.app_id, &targets).await;

        let record = ConnectionRecord::socket(id.clone(), self.node.clone(), platform, background, now_millis());
        if let Err(e) = self.change_presence(&app.app_id, &user, PresenceChange::Connect(record)).await {
            self.hub.unregister(seq).await;
            return Err(e);
        }
        Ok(ClientConnection { app, user, platform, id, outbound, seq, local })
    }

    /// Close a connection. With a grace period the platform lingers, so a quick reconnect is invisible.
    pub async fn disconnect(&self, conn: &ClientConnection, cause: ChangeCause) {
        self.hub.unregister(conn.seq).await;
        let grace = self.config.grace.as_millis() as Millis;
        let change = PresenceChange::Disconnect { id: conn.id.clone(), cause, grace };
        if let Err(e) = self.change_presence(&conn.app.app_id, &conn.user, change).await {
            tracing::error!(error = %e, user = %conn.user, "could not record a disconnect");
        }
    }

    pub async fn set_background(&self, conn: &ClientConnection, background: bool) -> Result<()> {
        let change = PresenceChange::SetBackground { id: conn.id.clone(), background };
        self.change_presence(&conn.app.app_id, &conn.user, change).await.map(drop)
    }

    pub async fn set_custom_status(&self, conn: &ClientConnection, status: Option<String>) -> Result<()> {
        self.change_presence(&conn.app.app_id, &conn.user, PresenceChange::SetCustomStatus(status)).await.map(drop)
    }

    /// Apply a change to a user's presence and publish it if it is one. Changes of one user are applied and
    /// published under that user's stripe lock, so subscribers see them in the order they happened.
    pub(crate) async fn change_presence(&self, app: &AppId, user: &UserId, change: PresenceChange) -> Result<Transition> {
        let _order = self.user_order.lock(app, user).await;
        let now = now_millis();
        let t = self.registry.apply(app, user, change, now).await?;
        self.publish_transition(app, user, t.clone(), now).await;
        Ok(t)
    }

    /// Everything a subscriber's new connection must watch: its live online-status subscriptions.
    async fn live_targets(&self, app: &AppId, user: &UserId) -> Result<Vec<(UserId, Option<Millis>)>> {
        let mut targets = Vec::new();
        let mut page = PageRequest { after: None, limit: 1000 };
        loop {
            let got = self.store.subscriptions_of(app, user, SubscriptionKind::OnlineStatus, now_millis(), &page).await?;
            targets.extend(got.items.into_iter().map(|s| (s.target, s.expires_at)));
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(targets),
            }
        }
    }

    /// Tell subscribers, webhooks and the store about a real change; do nothing for a non-change.
    pub(crate) async fn publish_transition(&self, app: &AppId, user: &UserId, t: Transition, now: Millis) {
        if !t.changed() {
            return;
        }
        if t.before.online && !t.after.online {
            let (store, app, user) = (self.store.clone(), app.clone(), user.clone());
            tokio::spawn(async move {
                if let Err(e) = store.record_last_seen(&app, &user, now).await {
                    tracing::warn!(error = %e, %user, "could not record last-seen");
                }
            });
        }
        let event = Arc::new(PresenceEvent {
            app: app.clone(),
            user_id: user.clone(),
            view: t.after,
            previous: t.before,
            details: t.details,
            cause: t.cause,
            platform: t.platform,
            at: now,
        });
        self.emit_presence(&event);
        if let Err(e) = self.bus.publish(BusMessage::Presence(event)).await {
            tracing::error!(error = %e, %user, "could not publish a presence change");
        }
    }
}
