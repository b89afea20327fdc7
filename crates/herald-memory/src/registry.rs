use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use dashmap::DashMap;
use herald_core::presence::{ConnectionSource, PresenceChange, Transition, UserPresence};
use herald_core::registry::{PresenceRegistry, UserTransition};
use herald_core::{AppId, Millis, NodeId, Result, UserId};
use parking_lot::Mutex;

type Key = (AppId, UserId);

/// Presence state in this process's memory. Users with leases (lingering closes, reported platforms) are indexed
/// by their next deadline, so expiry touches only the users that are due.
#[derive(Default)]
pub struct MemoryRegistry {
    users: DashMap<Key, UserPresence>,
    deadlines: Mutex<BTreeSet<(Millis, Key)>>,
    /// Liveness of the nodes that declared it. One process is one node, so this only matters when records of
    /// another incarnation are present; it keeps the registry's behaviour the same as a shared one's.
    nodes: Mutex<HashMap<NodeId, Millis>>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn apply_now(&self, key: &Key, change: PresenceChange, now: Millis) -> Result<Transition> {
        let mut entry = self.users.entry(key.clone()).or_default();
        let old_deadline = entry.next_deadline();
        let result = entry.apply(change, now);
        let new_deadline = entry.next_deadline();
        let forget = entry.is_empty();
        drop(entry);
        if forget {
            // Nothing left but what the store keeps; last-seen lives there.
            self.users.remove_if(key, |_, p| p.is_empty());
        }
        if old_deadline != new_deadline {
            let mut index = self.deadlines.lock();
            if let Some(t) = old_deadline {
                index.remove(&(t, key.clone()));
            }
            if let Some(t) = new_deadline {
                index.insert((t, key.clone()));
            }
        }
        result
    }
}

#[async_trait]
impl PresenceRegistry for MemoryRegistry {
    async fn apply(&self, app: &AppId, user: &UserId, change: PresenceChange, now: Millis) -> Result<Transition> {
        self.apply_now(&(app.clone(), user.clone()), change, now)
    }

    async fn get(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Option<UserPresence>>> {
        Ok(users
            .iter()
            .map(|u| self.users.get(&(app.clone(), u.clone())).map(|p| p.clone()))
            .collect())
    }

    async fn expire_due(&self, now: Millis, max: usize) -> Result<Vec<UserTransition>> {
        let due: Vec<Key> = {
            let index = self.deadlines.lock();
            index.iter().take_while(|(t, _)| *t <= now).take(max).map(|(_, k)| k.clone()).collect()
        };
        let mut out = Vec::with_capacity(due.len());
        for key in due {
            let transition = self.apply_now(&key, PresenceChange::Expire, now)?;
            out.push(UserTransition { app: key.0, user: key.1, transition });
        }
        Ok(out)
    }

    async fn node_heartbeat(&self, node: &NodeId, until: Millis) -> Result<()> {
        self.nodes.lock().insert(node.clone(), until);
        Ok(())
    }

    async fn reap_dead_nodes(&self, now: Millis) -> Result<Vec<UserTransition>> {
        // Taking the dead nodes out under the lock makes exactly one caller reap each.
        let dead: Vec<NodeId> = {
            let mut nodes = self.nodes.lock();
            let dead: Vec<NodeId> = nodes.iter().filter(|(_, until)| **until <= now).map(|(n, _)| n.clone()).collect();
            for n in &dead {
                nodes.remove(n);
            }
            dead
        };
        let mut out = Vec::new();
        for node in dead {
            // A full pass is fine here: reaping is rare, and in one process the users are at hand.
            let held: Vec<Key> = self
                .users
                .iter()
                .filter(|e| e.connections.iter().any(|c| c.source == ConnectionSource::Socket && c.node == node))
                .map(|e| e.key().clone())
                .collect();
            for key in held {
                let transition = self.apply_now(&key, PresenceChange::RemoveNode(node.clone()), now)?;
                out.push(UserTransition { app: key.0, user: key.1, transition });
            }
        }
        Ok(out)
    }
}
