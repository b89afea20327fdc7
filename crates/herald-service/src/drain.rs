//! Leaving without a flap: a draining node takes no new connections, asks its clients to reconnect (elsewhere, or
//! to its successor) a few at a time, and leaves their records lingering like any closed connection's, so that a
//! client back within the grace period changes nothing its subscribers see.

use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_core::presence::{ChangeCause, PresenceView, Transition};
use herald_core::{AppId, UserId};
use tokio::time::Instant;

use crate::hub::Closing;
use crate::{Herald, now_millis};

/// How often the drain looks for connections that are still open once every one was asked to close.
const SETTLE_POLL: Duration = Duration::from_millis(20);

/// What a drain did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections asked to close.
    pub closed: usize,
    /// Connections still open when the drain gave up waiting (their tasks did not finish in time).
    pub still_open: usize,
}

impl Herald {
    /// Refuse new connections from now on; readiness reports the node as draining.
    pub fn begin_drain(&self) {
        if !self.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(node = %self.node, connections = self.open_connections.load(Ordering::SeqCst), "draining");
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Stop expiring leases on this node. A single node about to restart calls it before it drains: its clients
    /// cannot come back before its successor runs, so the records of the connections it closes must not run out
    /// meanwhile; the successor resumes them with its restart allowance. (In a cluster the clients reconnect to the
    /// other nodes at once, and the lingering records expire there as usual.)
    pub fn hold_leases(&self) {
        self.leases_held.store(true, Ordering::SeqCst);
    }

    /// Close every connection with "reconnect", spread evenly over `window` so that their clients do not all come
    /// back in the same millisecond, then wait up to `settle` for their tasks to record the closes (each lingers
    /// for the grace period): only then does the registry hold every record with its deadline. Starts the drain if it has not started.
    pub async fn drain_connections(&self, window: Duration, settle: Duration) -> DrainReport {
        self.begin_drain();
        let closing = Closing { reconnect: true, reason: "the server is restarting".to_owned() };
        let conns = self.hub.connections();
        let started = Instant::now();
        let total = conns.len();
        let mut closed = 0;
        for (i, conn) in conns.into_iter().enumerate() {
            // The i-th of n closes at i/n of the window.
            let due = started + window.mul_f64(i as f64 / total as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            closed += usize::from(conn.close_with(closing.clone()));
        }
        // A connection that passed its check just before the drain began may have registered since the list was
        // taken: close stragglers until none is left or time is up.
        let deadline = Instant::now() + settle;
        loop {
            closed += self.hub.close_all_with(&closing);
            let open = self.open_connections.load(Ordering::SeqCst);
            if open == 0 || Instant::now() >= deadline {
                let report = DrainReport { closed, still_open: open };
                tracing::info!(
                    node = %self.node,
                    closed,
                    still_open = open,
                    secs = started.elapsed().as_secs_f64(),
                    "connections drained"
                );
                return report;
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// Leave the cluster at once rather than when this node's liveness runs out: no survivor will reap it, and the
    /// records of its closed connections expire through the sweeps like any lingering record. A node that still has
    /// open connections stays, so that a survivor reaps them when its liveness runs out.
    pub async fn leave(&self) {
        let open = self.open_connections.load(Ordering::SeqCst);
        if open > 0 {
            tracing::warn!(node = %self.node, open, "not leaving: connections are still open; the cluster will reap them");
            return;
        }
        match self.registry.leave(&self.node).await {
            Ok(()) => tracing::info!(node = %self.node, "left the cluster"),
            Err(e) => tracing::warn!(error = %e, node = %self.node, "could not leave; the cluster will reap this node"),
        }
    }
}

impl Herald {
    /// The process before this one stopped without a drain while `user` was online (`previous`), and its records
    /// died with it: publish the user's change to offline once, so subscribers and webhook receivers do not keep
    /// the user online forever. Nothing happens if the user is online again already.
    pub async fn publish_lost_presence(&self, app: &AppId, user: &UserId, previous: PresenceView) {
        let _order = self.user_order.lock(app, user).await;
        match self.registry.get(app, std::slice::from_ref(user)).await {
            Ok(states) if states.iter().flatten().any(|p| p.view().online) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, %user, "could not read presence; publishing the lost presence anyway");
            }
        }
        let after = PresenceView::default();
        let transition = Transition {
            before: previous,
            after,
            cause: ChangeCause::TimedOut,
            platform: None,
            removed: Vec::new(),
            details: Vec::new(),
        };
        if let Some(write) = self.publish_transition(app, user, transition, now_millis()).await {
            let _ = write.await;
        }
    }
}
