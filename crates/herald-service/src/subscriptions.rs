//! Subscribing to online status (and profiles), and listing subscriptions both ways.

use herald_core::bus::{AddedTarget, BusMessage, ControlEvent};
use herald_core::paging::{Page, PageRequest};
use herald_core::presence::{Presence, PresenceView};
use herald_core::subscription::{
    MAX_EXPIRY_SECS, SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits,
};
use herald_core::{App, AppId, Error, Result, UserId};

use crate::metrics::SUBSCRIPTION_WRITES;
use crate::{Herald, now_millis};

/// What a subscription call does with targets that are not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownTargets {
    /// The whole call fails with `UserNotFound` naming the first one, and nothing is changed.
    Reject,
    /// The call goes ahead for the registered targets; the others are reported in `not_found`.
    Report,
}

/// A subscribe call's outcome plus the current presence of every target now subscribed.
#[derive(Clone, Debug)]
pub struct SubscribeResult {
    pub outcome: SubscribeOutcome,
    /// Targets left alone because they are not registered (only with [`UnknownTargets::Report`]).
    pub not_found: Vec<UserId>,
    pub presences: Vec<Presence>,
}

/// An unsubscribe call's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsubscribeResult {
    /// Targets that were subscribed and no longer are.
    pub removed: Vec<UserId>,
    /// Targets that are not registered (only with [`UnknownTargets::Report`]).
    pub not_found: Vec<UserId>,
}

pub type SubscriptionPage = Page<Subscription>;

/// Page size when a whole subscription list is read.
const LIST_PAGE: usize = 1000;

impl Herald {
    /// Subscribe `subscriber` to `targets`. The subscriber must be registered; subscribing yourself is an error.
    /// Targets already at their subscriber limit are skipped and reported; a subscriber at its own limit fails the
    /// call.
    pub async fn subscribe(
        &self,
        app: &App,
        subscriber: &UserId,
        targets: &[UserId],
        kind: SubscriptionKind,
        expiry_secs: Option<i64>,
        unknown: UnknownTargets,
    ) -> Result<SubscribeResult> {
        if targets.is_empty() {
            return Err(Error::invalid("user_ids", "must not be empty"));
        }
        if targets.contains(subscriber) {
            return Err(Error::SelfSubscription);
        }
        if expiry_secs.is_some_and(|s| !(1..=MAX_EXPIRY_SECS).contains(&s)) {
            return Err(Error::invalid("expiry", format!("must be 1..={MAX_EXPIRY_SECS} seconds")));
        }
        self.require_registered(&app.app_id, subscriber).await?;
        let (known, not_found) = self.split_unknown(&app.app_id, targets, unknown).await?;
        if known.is_empty() {
            return Ok(SubscribeResult { outcome: SubscribeOutcome::default(), not_found, presences: Vec::new() });
        }

        let request =
            SubscribeRequest { subscriber: subscriber.clone(), targets: known, kind, expiry_secs, now: now_millis() };
        let limits = SubscriptionLimits {
            per_subscriber: app.limits.max_subscriptions_per_subscriber,
            per_target: app.limits.max_subscribers_per_target,
        };
        let watches = kind == SubscriptionKind::OnlineStatus;
        let expires_at = request.expires_at();
        // Held from before the commit until the change applies here: this node applies a subscriber's changes in
        // the order the store commits them.
        let interest = self.hub.lock_interest(&app.app_id, subscriber).await;
        let outcome = self.store.subscribe(&app.app_id, &request, limits).await?;
        metrics::counter!(SUBSCRIPTION_WRITES, "op" => "subscribe").increment(outcome.subscribed.len() as u64);
        if watches && !outcome.subscribed.is_empty() {
            let watched: Vec<_> = outcome.subscribed.iter().map(|t| (t.clone(), expires_at)).collect();
            // Watch locally before reading the presences answered, so the caller's own sockets miss nothing.
            self.hub.add_interest(&interest, &watched).await;
        }
        drop(interest);
        let presences = self.require_presences(&app.app_id, &outcome.subscribed).await;
        if watches && !outcome.subscribed.is_empty() {
            // Other nodes holding the subscriber's sockets start watching later; they compare the presence they
            // then read with the one answered here. A failed read answered nothing, so they compare with offline,
            // which is what a subscriber assumes of a target it was told nothing about.
            let answered: Vec<PresenceView> = match &presences {
                Ok(ps) => ps.iter().map(|p| p.view.clone()).collect(),
                Err(_) => vec![PresenceView::default(); outcome.subscribed.len()],
            };
            let targets = outcome
                .subscribed
                .iter()
                .zip(answered)
                .map(|(t, answered)| AddedTarget { user_id: t.clone(), expires_at, answered })
                .collect();
            let event = ControlEvent::InterestAdded { origin: self.node.clone(), targets };
            self.control(&app.app_id, subscriber, event).await;
        }
        Ok(SubscribeResult { outcome, not_found, presences: presences? })
    }

    /// Remove subscriptions. The subscriber must be registered.
    pub async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        targets: &[UserId],
        kind: SubscriptionKind,
        unknown: UnknownTargets,
    ) -> Result<UnsubscribeResult> {
        if targets.is_empty() {
            return Err(Error::invalid("user_ids", "must not be empty"));
        }
        self.require_registered(app, subscriber).await?;
        let (known, not_found) = self.split_unknown(app, targets, unknown).await?;
        if known.is_empty() {
            return Ok(UnsubscribeResult { removed: Vec::new(), not_found });
        }
        let interest = self.hub.lock_interest(app, subscriber).await;
        let removed = self.store.unsubscribe(app, subscriber, kind, &known).await?;
        metrics::counter!(SUBSCRIPTION_WRITES, "op" => "unsubscribe").increment(removed.len() as u64);
        if kind == SubscriptionKind::OnlineStatus && !removed.is_empty() {
            self.hub.remove_interest(&interest, &removed).await;
            drop(interest);
            let event = ControlEvent::InterestRemoved { origin: self.node.clone(), targets: removed.clone() };
            self.control(app, subscriber, event).await;
        }
        Ok(UnsubscribeResult { removed, not_found })
    }

    /// One page of a registered subscriber's live subscriptions, oldest first.
    pub async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        page: &PageRequest,
    ) -> Result<SubscriptionPage> {
        self.require_registered(app, subscriber).await?;
        self.store.subscriptions_of(app, subscriber, kind, now_millis(), page).await
    }

    /// One page of a registered target's live subscribers, oldest first.
    pub async fn subscribers_of(
        &self,
        app: &AppId,
        target: &UserId,
        kind: SubscriptionKind,
        page: &PageRequest,
    ) -> Result<SubscriptionPage> {
        self.require_registered(app, target).await?;
        self.store.subscribers_of(app, target, kind, now_millis(), page).await
    }

    /// Every live subscription of a registered subscriber, oldest first.
    pub async fn all_subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
    ) -> Result<Vec<Subscription>> {
        self.require_registered(app, subscriber).await?;
        self.read_all_subscriptions(app, subscriber, kind).await
    }

    /// Every live subscription of `subscriber`, read page by page.
    pub(crate) async fn read_all_subscriptions(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
    ) -> Result<Vec<Subscription>> {
        let mut all = Vec::new();
        let mut page = PageRequest { after: None, limit: LIST_PAGE };
        loop {
            let got = self.store.subscriptions_of(app, subscriber, kind, now_millis(), &page).await?;
            all.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Split targets into the registered ones and, under [`UnknownTargets::Report`], the others; under
    /// [`UnknownTargets::Reject`] an unregistered target fails the call.
    async fn split_unknown(
        &self,
        app: &AppId,
        targets: &[UserId],
        unknown: UnknownTargets,
    ) -> Result<(Vec<UserId>, Vec<UserId>)> {
        let (registered, known) = self.registered_in_order(app, targets).await?;
        let missing: Vec<UserId> = targets.iter().filter(|t| !registered.contains(*t)).cloned().collect();
        match (unknown, missing.first()) {
            (UnknownTargets::Reject, Some(first)) => Err(Error::UserNotFound(first.clone())),
            _ => Ok((known, missing)),
        }
    }

    async fn control(&self, app: &AppId, user: &UserId, event: ControlEvent) {
        let message = BusMessage::Control { app: app.clone(), user: user.clone(), event };
        if let Err(e) = self.bus.publish(message).await {
            tracing::error!(error = %e, %user, "could not publish a control event");
        }
    }
}
