//! The key layout. Per-user keys carry the hash tag `{app:user}`, so everything about one user lives in one slot of
//! a Redis Cluster; the indexes are single keys each.

use herald_core::{AppId, Error, NodeId, Result, UserId};

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// The serialized `UserPresence` of one user.
    pub fn user(&self, app: &AppId, user: &UserId) -> String {
        format!("{}:presence:{{{}:{}}}", self.prefix, app, user)
    }

    /// Sorted set of users (members as [`member`]) scored by their next lease deadline.
    pub fn deadlines(&self) -> String {
        format!("{}:deadlines", self.prefix)
    }

    /// Sorted set of nodes scored by the time their liveness runs out.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Set of users (members as [`member`]) with socket records held by a node.
    pub fn node_users(&self, node: &NodeId) -> String {
        format!("{}:node:{{{}}}:users", self.prefix, node)
    }

    /// The lock one surviving node takes to reap a dead node.
    pub fn reaper(&self, node: &NodeId) -> String {
        format!("{}:node:{{{}}}:reaper", self.prefix, node)
    }

    /// Left by the reaper of a node, for the node to find if it comes back.
    pub fn tombstone(&self, node: &NodeId) -> String {
        format!("{}:node:{{{}}}:taken-over", self.prefix, node)
    }

    /// The pub/sub channel of a topic.
    pub fn channel(&self, topic: &herald_core::bus::Topic) -> String {
        use herald_core::bus::Topic;
        match topic {
            Topic::Presence(app, user) => format!("{}:bus:presence:{{{}:{}}}", self.prefix, app, user),
            Topic::Control(app, user) => format!("{}:bus:control:{{{}:{}}}", self.prefix, app, user),
        }
    }
}

/// How a user is named inside the index sets: unambiguous whatever characters the IDs hold.
pub(crate) fn member(app: &AppId, user: &UserId) -> String {
    serde_json::to_string(&(app, user)).unwrap_or_default()
}

pub(crate) fn parse_member(raw: &str) -> Result<(AppId, UserId)> {
    serde_json::from_str(raw).map_err(|e| Error::unavailable(format!("unreadable index member {raw:?}: {e}")))
}
