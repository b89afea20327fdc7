use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use dashmap::DashMap;
use herald_core::presence::{ConnectionSource, PresenceChange, Transition, UserPresence};
use herald_core::registry::{NodeLiveness, PresenceRegistry, UserTransition};
use herald_core::{AppId, Millis, NodeId, Result, UserId};
use parking_lot::Mutex;

type Key = (AppId, UserId);

/// Presence state in this process's memory. Users with leases (lingering closes, reported platforms) are indexed
/// by their next deadline, so expiry touches only the users that are due. The index is only changed while the
/// user's entry is held (entry, then index: never the other way round).
#[derive(Default)]
pub struct MemoryRegistry {
    users: DashMap<Key, UserPresence>,
    deadlines: Mutex<BTreeSet<(Millis, Key)>>,
    /// Liveness of the nodes that declared it. One process is one node, so this only matters when records of
    /// another incarnation are present; it keeps the registry's behaviour the same as a shared one's.
    nodes: Mutex<HashMap<NodeId, Millis>>,
    /// Nodes reaped since their last heartbeat; their next heartbeat learns it.
    taken_over: Mutex<HashSet<NodeId>>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every user's records, to carry them over a restart of the process.
    pub fn export(&self) -> Vec<(AppId, UserId, UserPresence)> {
        self.users.iter().map(|e| (e.key().0.clone(), e.key().1.clone(), e.value().clone())).collect()
    }

    /// Put back records exported by an earlier process, replacing what the users have here.
    pub fn restore(&self, records: Vec<(AppId, UserId, UserPresence)>) {
        for (app, user, presence) in records.into_iter().filter(|(_, _, p)| !p.is_empty()) {
            let key = (app, user);
            let mut entry = self.users.entry(key.clone()).or_default();
            let mut index = self.deadlines.lock();
            if let Some(t) = entry.next_deadline() {
                index.remove(&(t, key.clone()));
            }
            if let Some(t) = presence.next_deadline() {
                index.insert((t, key.clone()));
            }
            *entry = presence;
        }
    }

    fn apply_now(&self, key: &Key, change: PresenceChange, now: Millis) -> Result<Transition> {
        let mut entry = self.users.entry(key.clone()).or_default();
        let old_deadline = entry.next_deadline();
        let result = entry.apply(change, now);
        let new_deadline = entry.next_deadline();
        // The index moves while the entry is still held: a change of the same user that ran between the two would
        // move it in the wrong order and leave a deadline the state no longer has, visited by every sweep.
        if old_deadline != new_deadline {
            let mut index = self.deadlines.lock();
            if let Some(t) = old_deadline {
                index.remove(&(t, key.clone()));
            }
            if let Some(t) = new_deadline {
                index.insert((t, key.clone()));
            }
        }
        let forget = entry.is_empty();
        drop(entry);
        if forget {
            // Nothing left but what the store keeps; last-seen lives there.
            self.users.remove_if(key, |_, p| p.is_empty());
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
        Ok(users.iter().map(|u| self.users.get(&(app.clone(), u.clone())).map(|p| p.clone())).collect())
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

    async fn node_heartbeat(&self, node: &NodeId, until: Millis) -> Result<NodeLiveness> {
        self.nodes.lock().insert(node.clone(), until);
        let taken_over = self.taken_over.lock().remove(node);
        Ok(if taken_over { NodeLiveness::TakenOver } else { NodeLiveness::Alive })
    }

    async fn leave(&self, node: &NodeId) -> Result<()> {
        self.nodes.lock().remove(node);
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
            self.taken_over.lock().extend(dead.iter().cloned());
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

#[cfg(test)]
mod tests {
    use herald_core::Platform;

    use super::*;

    const T0: Millis = 1_700_000_000_000;

    /// The deadline index must name exactly the users that hold a lease, at their next deadline: a stale entry is
    /// revisited by every sweep and eats its budget.
    fn assert_index_matches_state(registry: &MemoryRegistry) {
        let index = registry.deadlines.lock().clone();
        let expected: BTreeSet<(Millis, Key)> =
            registry.users.iter().filter_map(|e| e.next_deadline().map(|t| (t, e.key().clone()))).collect();
        assert_eq!(index, expected);
    }

    #[test]
    fn deadline_index_stays_exact_under_racing_leases_and_sweeps() {
        let registry = MemoryRegistry::new();
        let app = AppId::parse("t").unwrap();
        let users: Vec<Key> = (0..2).map(|i| (app.clone(), UserId::parse(format!("u{i}")).unwrap())).collect();
        let node = NodeId::new("n1");
        let report = |now: Millis| PresenceChange::Report {
            platform: Platform::Android,
            ttl: 1000 + now % 7,
            background: false,
            node: node.clone(),
        };
        std::thread::scope(|s| {
            // One side keeps (re)starting leases, the other ends them: reported offline, or swept as expired.
            s.spawn(|| {
                for round in 0..50_000 {
                    for key in &users {
                        let _ = registry.apply_now(key, report(T0 + round), T0 + round);
                    }
                }
            });
            s.spawn(|| {
                for round in 0..50_000 {
                    for key in &users {
                        let change = if round % 2 == 0 {
                            PresenceChange::ReportOffline { platform: None }
                        } else {
                            PresenceChange::Expire
                        };
                        let _ = registry.apply_now(key, change, T0 + 1_000_000);
                    }
                }
            });
        });
        assert_index_matches_state(&registry);
    }
}
