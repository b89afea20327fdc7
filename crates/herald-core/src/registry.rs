//! The presence registry: where connection records live (memory on one node, Redis in a cluster).

use async_trait::async_trait;

use crate::presence::{PresenceChange, Transition, UserPresence};
use crate::{AppId, Millis, NodeId, Result, UserId};

/// A transition together with whose it is.
#[derive(Clone, Debug)]
pub struct UserTransition {
    pub app: AppId,
    pub user: UserId,
    pub transition: Transition,
}

/// What a node's heartbeat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLiveness {
    Alive,
    /// The node had been declared dead and another node removed its records.
    TakenOver,
}

#[async_trait]
pub trait PresenceRegistry: Send + Sync {
    /// Apply one change to a user's state atomically (concurrent changes to one user serialize).
    async fn apply(&self, app: &AppId, user: &UserId, change: PresenceChange, now: Millis) -> Result<Transition>;
    /// Current states, in input order; `None` for users with no records.
    async fn get(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Option<UserPresence>>>;
    /// Remove records whose lease ran out, up to `max` users; returns the transitions of the users touched.
    async fn expire_due(&self, now: Millis, max: usize) -> Result<Vec<UserTransition>>;
    /// Declare this node alive until `until`. Returns [`NodeLiveness::TakenOver`] when, since its previous
    /// heartbeat, the node was declared dead and its records were taken over (it was paused or cut off for longer
    /// than its liveness): its connections are no longer recorded, and it must close them so that their clients
    /// reconnect. Either way the node is alive again from this call on. Single-node registries need not track it.
    async fn node_heartbeat(&self, _node: &NodeId, _until: Millis) -> Result<NodeLiveness> {
        Ok(NodeLiveness::Alive)
    }
    /// Take over the records of nodes whose liveness ran out: remove them and return the transitions.
    async fn reap_dead_nodes(&self, _now: Millis) -> Result<Vec<UserTransition>> {
        Ok(Vec::new())
    }
    /// A drained node leaves: the others stop tracking its liveness at once, and no one reaps it. Its records
    /// stay, each with its lease deadline, for the others' sweeps to expire (a reconnect elsewhere replaces them).
    async fn leave(&self, _node: &NodeId) -> Result<()> {
        Ok(())
    }
    /// Whether the registry answers (readiness).
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
