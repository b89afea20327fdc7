//! The node's periodic work: expiring leases, reaping dead nodes, purging expired subscriptions and tokens.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_core::Millis;
use herald_core::registry::{NodeLiveness, UserTransition};

use crate::metrics::{NODE_REAPS, REAPED_USERS};
use crate::{Herald, now_millis};

/// Most users one sweep handles; the next sweep continues.
const SWEEP_BATCH: usize = 10_000;
const PURGE_EVERY: Duration = Duration::from_secs(60);
const PURGE_BATCH: usize = 10_000;

impl Herald {
    /// Start the periodic loops on the service's task tracker; they run until [`Herald::stop_background`].
    pub fn start_background(self: &Arc<Self>) {
        self.every(self.config.sweep_interval, "sweep", |h| async move { h.sweep_once().await });
        self.every(self.config.node_ttl / 3, "node liveness", |h| async move { h.node_liveness_once().await });
        self.every(PURGE_EVERY, "purge", |h| async move { h.purge_once().await });
    }

    /// Stop the loops and wait for them and for every piece of work the service started in the background (such as
    /// last-seen writes) to finish.
    pub async fn stop_background(&self) {
        self.stop.cancel();
        self.work.close();
        self.work.wait().await;
    }

    /// Run `step` every `period` until the service stops; a step in progress finishes first.
    fn every<F, Fut>(self: &Arc<Self>, period: Duration, name: &'static str, step: F)
    where
        F: Fn(Arc<Herald>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (herald, stop) = (self.clone(), self.stop.clone());
        self.work.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => step(herald.clone()).await,
                }
            }
            tracing::debug!(task = name, "background loop stopped");
        });
    }

    async fn purge_once(&self) {
        match self.store.purge_expired(now_millis(), PURGE_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged expired subscriptions"),
            Err(e) => tracing::warn!(error = %e, "purging expired subscriptions failed"),
        }
        match self.store.purge_expired_tokens(now_millis(), PURGE_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged expired tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired tokens failed"),
        }
    }

    /// Expire due leases once and publish what changed.
    pub async fn sweep_once(&self) {
        if self.leases_held.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let now = now_millis();
        match self.registry.expire_due(now, SWEEP_BATCH).await {
            Ok(transitions) => self.publish_all(transitions, now).await,
            Err(e) => tracing::warn!(error = %e, "expiring presence leases failed"),
        }
    }

    async fn node_liveness_once(&self) {
        let now = now_millis();
        let until = now + self.config.node_ttl.as_millis() as Millis;
        match self.registry.node_heartbeat(&self.node, until).await {
            Ok(NodeLiveness::Alive) => {}
            // The others declared this node dead (it was paused or cut off for longer than its TTL) and took its
            // users offline. Its sockets are still open but no longer recorded: close them, so that their clients
            // reconnect and come back online, instead of staying connected while everyone sees them offline.
            Ok(NodeLiveness::TakenOver) => {
                let closed = self.hub.close_all("this node was taken over; reconnect");
                tracing::warn!(node = %self.node, connections = closed, "this node was taken over by the cluster; closing its connections so their clients reconnect");
            }
            Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
        }
        match self.registry.reap_dead_nodes(now).await {
            Ok(transitions) => {
                if !transitions.is_empty() {
                    metrics::counter!(NODE_REAPS).increment(1);
                    metrics::counter!(REAPED_USERS).increment(transitions.len() as u64);
                    let changed = transitions.iter().filter(|t| t.transition.changed()).count();
                    tracing::info!(node = %self.node, users = transitions.len(), changed, "took over the connections of dead nodes");
                }
                self.publish_all(transitions, now).await
            }
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
