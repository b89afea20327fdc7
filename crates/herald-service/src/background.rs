//! The node's periodic work: expiring leases, reaping dead nodes, purging expired subscriptions and tokens.

use std::sync::Arc;
use std::time::Duration;

use herald_core::Millis;
use herald_core::registry::UserTransition;

use crate::{Herald, now_millis};

/// Most users one sweep handles; the next sweep continues.
const SWEEP_BATCH: usize = 10_000;
const PURGE_EVERY: Duration = Duration::from_secs(60);
const PURGE_BATCH: usize = 10_000;

impl Herald {
    /// Start the background loops; they run until the runtime stops.
    pub fn spawn_background(self: &Arc<Self>) {
        let herald = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(herald.config.sweep_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                herald.sweep_once().await;
            }
        });
        let herald = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(herald.config.node_ttl / 3);
            loop {
                tick.tick().await;
                herald.node_liveness_once().await;
            }
        });
        let herald = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            loop {
                tick.tick().await;
                match herald.store.purge_expired(now_millis(), PURGE_BATCH).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(purged = n, "purged expired subscriptions"),
                    Err(e) => tracing::warn!(error = %e, "purging expired subscriptions failed"),
                }
                match herald.store.purge_expired_tokens(now_millis(), PURGE_BATCH).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(purged = n, "purged expired tokens"),
                    Err(e) => tracing::warn!(error = %e, "purging expired tokens failed"),
                }
            }
        });
    }

    /// Expire due leases once and publish what changed.
    pub async fn sweep_once(&self) {
        let now = now_millis();
        match self.registry.expire_due(now, SWEEP_BATCH).await {
            Ok(transitions) => self.publish_all(transitions, now).await,
            Err(e) => tracing::warn!(error = %e, "expiring presence leases failed"),
        }
    }

    async fn node_liveness_once(&self) {
        let now = now_millis();
        let until = now + self.config.node_ttl.as_millis() as Millis;
        if let Err(e) = self.registry.node_heartbeat(&self.node, until).await {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
        match self.registry.reap_dead_nodes(now).await {
            Ok(transitions) => self.publish_all(transitions, now).await,
            Err(e) => tracing::warn!(error = %e, "reaping dead nodes failed"),
        }
    }

    /// Publish transitions that the registry applied outside the user's stripe lock. A transition whose outcome
    /// is no longer the user's state was overtaken by a later change, which published the newer state itself.
    async fn publish_all(&self, transitions: Vec<UserTransition>, now: Millis) {
        for t in transitions.into_iter().filter(|t| t.transition.changed()) {
            let _order = self.user_order.lock(&t.app, &t.user).await;
            let current = match self.registry.get(&t.app, std::slice::from_ref(&t.user)).await {
                Ok(mut states) => states.pop().flatten().unwrap_or_default().view(),
                Err(e) => {
                    tracing::warn!(error = %e, user = %t.user, "could not re-read presence; publishing as applied");
                    t.transition.after.clone()
                }
            };
            if current == t.transition.after {
                self.publish_transition(&t.app, &t.user, t.transition, now).await;
            }
        }
    }
}
