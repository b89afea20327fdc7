//! Subscribing to online status (and profiles), and listing subscriptions both ways.

use herald_core::bus::{BusMessage, ControlEvent};
use herald_core::paging::{Page, PageRequest};
use herald_core::presence::Presence;
use herald_core::subscription::{SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits};
use herald_core::{App, AppId, Error, Result, UserId};

use crate::{Herald, now_millis};

/// A subscribe call's outcome plus the current presence of every target now subscribed.
#[derive(Clone, Debug)]
pub struct SubscribeResult {
    pub outcome: SubscribeOutcome,
    pub presences: Vec<Presence>,
}

pub type SubscriptionPage = Page<Subscription>;

impl Herald {
    /// Subscribe `subscriber` to `targets`. All must be registered; subscribing yourself is an error. Targets
    /// already at their subscriber limit are skipped and reported; a subscriber at its own limit fails the call.
    pub async fn subscribe(
        &self,
        app: &App,
        subscriber: &UserId,
        targets: &[UserId],
        kind: SubscriptionKind,
        expiry_secs: Option<i64>,
    ) -> Result<SubscribeResult> {
        if targets.is_empty() {
            return Err(Error::invalid("user_ids", "must not be empty"));
        }
        if targets.contains(subscriber) {
            return Err(Error::SelfSubscription);
        }
        if expiry_secs.is_some_and(|s| s <= 0) {
            return Err(Error::invalid("expiry", "must be a positive number of seconds"));
        }
        let mut everyone = Vec::with_capacity(targets.len() + 1);
        everyone.push(subscriber.clone());
        everyone.extend_from_slice(targets);
        self.require_users(&app.app_id, &everyone).await?;

        let request = SubscribeRequest {
            subscriber: subscriber.clone(),
            targets: targets.to_vec(),
            kind,
            expiry_secs,
            now: now_millis(),
        };
        let limits = SubscriptionLimits {
            per_subscriber: app.limits.max_subscriptions_per_subscriber,
            per_target: app.limits.max_subscribers_per_target,
        };
        let outcome = self.store.subscribe(&app.app_id, &request, limits).await?;
        if kind == SubscriptionKind::OnlineStatus && !outcome.subscribed.is_empty() {
            let expires_at = request.expires_at();
            let watched: Vec<_> = outcome.subscribed.iter().map(|t| (t.clone(), expires_at)).collect();
            // Watch locally before answering, so the caller's own sockets miss nothing; then tell other nodes.
            self.hub.add_interest(&app.app_id, subscriber, &watched).await;
            self.control(&app.app_id, subscriber, ControlEvent::InterestAdded { targets: watched }).await;
        }
        let presences = self.require_presences(&app.app_id, &outcome.subscribed).await?;
        Ok(SubscribeResult { outcome, presences })
    }

    /// Remove subscriptions; returns the targets that were subscribed.
    pub async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        targets: &[UserId],
        kind: SubscriptionKind,
    ) -> Result<Vec<UserId>> {
        if targets.is_empty() {
            return Err(Error::invalid("user_ids", "must not be empty"));
        }
        let removed = self.store.unsubscribe(app, subscriber, kind, targets).await?;
        if kind == SubscriptionKind::OnlineStatus && !removed.is_empty() {
            self.hub.remove_interest(app, subscriber, &removed).await;
            self.control(app, subscriber, ControlEvent::InterestRemoved { targets: removed.clone() }).await;
        }
        Ok(removed)
    }

    pub async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        page: &PageRequest,
    ) -> Result<SubscriptionPage> {
        self.store.subscriptions_of(app, subscriber, kind, now_millis(), page).await
    }

    pub async fn subscribers_of(
        &self,
        app: &AppId,
        target: &UserId,
        kind: SubscriptionKind,
        page: &PageRequest,
    ) -> Result<SubscriptionPage> {
        self.store.subscribers_of(app, target, kind, now_millis(), page).await
    }

    async fn control(&self, app: &AppId, user: &UserId, event: ControlEvent) {
        let message = BusMessage::Control { app: app.clone(), user: user.clone(), event };
        if let Err(e) = self.bus.publish(message).await {
            tracing::error!(error = %e, %user, "could not publish a control event");
        }
    }
}
