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

#[async_trait]
pub trait PresenceRegistry: Send + Sync {
    /// Apply one change to a user's state atomically (concurrent changes to one user serialize).
    async fn apply(&self, app: &AppId, user: &UserId, change: PresenceChange, now: Millis) -> Result<Transition>;
    /// Current states, in input order; `None` for users with no records.
    async fn get(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Option<UserPresence>>>;
    /// Remove records whose lease ran out, up to `max` users; returns the transitions of the users touched.
    async fn expire_due(&self, now: Millis, max: usize) -> Result<Vec<UserTransition>>;
    /// Declare this node alive until `until`. Single-node registries need not track it.
    async fn node_heartbeat(&self, _node: &NodeId, _until: Millis) -> Result<()> {
        Ok(())
    }
    /// Take over the records of nodes whose liveness ran out: remove them and return the transitions.
    async fn reap_dead_nodes(&self, _now: Millis) -> Result<Vec<UserTransition>> {
        Ok(Vec::new())
    }
}
