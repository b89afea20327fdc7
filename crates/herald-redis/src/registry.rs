//! The presence registry in Redis.
//!
//! A user's whole state is one JSON value under a key of its own. A change reads it, runs core's state machine
//! (`UserPresence::apply`) on it here, and writes it back with a compare-and-set script that succeeds only if the
//! value is still the one read; otherwise it retries. So concurrent changes to one user serialize without locks,
//! and the state machine exists once, in core.
//!
//! Two indexes let the periodic work touch only what it must, never scanning keys:
//! - `deadlines`: users scored by their next lease deadline, for `expire_due`;
//! - `node:{id}:users`: users with socket records on a node, for reaping a dead node.
//!
//! They live in other slots than the user's key, so they cannot change in the same atomic step. They are kept
//! conservative instead: an entry is added before the state is written and again after it, and is removed only
//! with a check of the state that follows. A stale entry costs one no-op visit; a missing one cannot happen.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use herald_core::presence::{ConnectionSource, PresenceChange, Transition, UserPresence};
use herald_core::registry::{NodeLiveness, PresenceRegistry, UserTransition};
use herald_core::{AppId, Error, Millis, NodeId, Result, UserId};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::keys::{Keys, member, parse_member};
use crate::{RedisOptions, once_more_if_dropped, unavailable};

/// Most compare-and-set attempts on one user before giving up (each loses only to a concurrent change).
const MAX_ATTEMPTS: usize = 64;
/// How long a reaper may hold a dead node before another survivor may take over (if the first one died too). The
/// lock is released as soon as the reaping is done, so a node that comes back and dies again is reaped at once.
const REAP_LOCK_MS: u64 = 60_000;
/// How long a reaped node's tombstone waits for the node to come back and learn that it was taken over.
const TOMBSTONE_SECS: u64 = 7 * 24 * 3600;

/// Replace KEYS[1] by ARGV[3] (or delete it when ARGV[3] is empty) only if it still holds ARGV[2]
/// (or is absent, when ARGV[1] is "0").
const COMPARE_AND_SET: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[3]) end
return 1
"#;

/// Move a member's score only if it still is the one read (ARGV[2]): to ARGV[3], or away when ARGV[3] is empty.
const RESCORE_IF_UNCHANGED: &str = r#"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
  return 1
end
return 0
"#;

pub struct RedisRegistry {
    conn: ConnectionManager,
    keys: Keys,
    cas: Arc<redis::Script>,
    rescore: Arc<redis::Script>,
}

/// The state of one user before and after a change.
struct Applied {
    transition: Transition,
    after: UserPresence,
}

impl RedisRegistry {
    pub async fn connect(options: &RedisOptions) -> Result<Self> {
        options.validate()?;
        let client = redis::Client::open(options.url.as_str()).map_err(unavailable)?;
        let conn = client.get_connection_manager().await.map_err(unavailable)?;
        Ok(Self {
            conn,
            keys: Keys::new(&options.prefix),
            cas: Arc::new(redis::Script::new(COMPARE_AND_SET)),
            rescore: Arc::new(redis::Script::new(RESCORE_IF_UNCHANGED)),
        })
    }

    async fn load(&self, key: &str) -> Result<Option<String>> {
        once_more_if_dropped(|| {
            let mut conn = self.conn.clone();
            async move { conn.get(key).await }
        })
        .await
        .map_err(unavailable)
    }

    /// Apply a change to one user with optimistic concurrency, keeping the indexes conservative.
    async fn update(&self, app: &AppId, user: &UserId, change: PresenceChange, now: Millis) -> Result<Applied> {
        let key = self.keys.user(app, user);
        let member = member(app, user);
        for _ in 0..MAX_ATTEMPTS {
            let raw = self.load(&key).await?;
            let mut state = decode(raw.as_deref())?;
            let before_nodes = socket_nodes(&state);
            let transition = state.apply(change.clone(), now)?;
            let after_nodes = socket_nodes(&state);
            let deadline = state.next_deadline();
            let new_raw = if state.is_empty() { String::new() } else { encode(&state)? };
            let unchanged = match raw.as_deref() {
                Some(old) => old == new_raw,
                None => new_raw.is_empty(),
            };
            if unchanged {
                return Ok(Applied { transition, after: state });
            }
            // Before the write: a crash after it must not leave an index without the user.
            self.index(&member, deadline, &after_nodes, &before_nodes).await?;
            let swapped: i64 = self
                .cas
                .key(&key)
                .arg(if raw.is_some() { "1" } else { "0" })
                .arg(raw.as_deref().unwrap_or(""))
                .arg(&new_raw)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            if swapped == 0 {
                continue;
            }
            // After the write: an index cleanup that raced with this change must not have removed the user.
            self.index(&member, deadline, &after_nodes, &BTreeSet::new()).await?;
            for gone in before_nodes.difference(&after_nodes) {
                self.unindex_node(gone, app, user, &member).await?;
            }
            return Ok(Applied { transition, after: state });
        }
        Err(Error::unavailable(format!("presence of {user} changes too often to update")))
    }

    /// Add the user to the deadline index (never raising an earlier deadline) and to the node sets it is new in.
    async fn index(
        &self,
        member: &str,
        deadline: Option<Millis>,
        nodes: &BTreeSet<NodeId>,
        known: &BTreeSet<NodeId>,
    ) -> Result<()> {
        let mut pipe = redis::pipe();
        if let Some(d) = deadline {
            pipe.cmd("ZADD").arg(self.keys.deadlines()).arg("LT").arg(d).arg(member).ignore();
        }
        for node in nodes.difference(known) {
            pipe.cmd("SADD").arg(self.keys.node_users(node)).arg(member).ignore();
        }
        if deadline.is_none() && nodes.is_subset(known) {
            return Ok(());
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(unavailable)
    }

    /// Remove the user from a node's set, then put it back if a concurrent change gave it a record there again.
    async fn unindex_node(&self, node: &NodeId, app: &AppId, user: &UserId, member: &str) -> Result<()> {
        let set = self.keys.node_users(node);
        let _: i64 = self.conn.clone().srem(&set, member).await.map_err(unavailable)?;
        let state = decode(self.load(&self.keys.user(app, user)).await?.as_deref())?;
        if socket_nodes(&state).contains(node) {
            let _: i64 = self.conn.clone().sadd(&set, member).await.map_err(unavailable)?;
        }
        Ok(())
    }

    /// After expiring a user found at `score`, move its index entry to its real next deadline (if nobody moved it
    /// meanwhile), then make sure a deadline set concurrently is indexed.
    async fn reindex_deadline(
        &self,
        app: &AppId,
        user: &UserId,
        member: &str,
        score: f64,
        next: Option<Millis>,
    ) -> Result<()> {
        let next_arg = next.map(|d| d.to_string()).unwrap_or_default();
        let _: i64 = self
            .rescore
            .key(self.keys.deadlines())
            .arg(member)
            .arg(score)
            .arg(next_arg)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let state = decode(self.load(&self.keys.user(app, user)).await?.as_deref())?;
        if let Some(d) = state.next_deadline() {
            let _: i64 = redis::cmd("ZADD")
                .arg(self.keys.deadlines())
                .arg("LT")
                .arg(d)
                .arg(member)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Remove every record of a dead node, user by user, and forget the node.
    async fn reap(&self, node: &NodeId, now: Millis) -> Result<Vec<UserTransition>> {
        let set = self.keys.node_users(node);
        let members: Vec<String> = self.conn.clone().smembers(&set).await.map_err(unavailable)?;
        let mut out = Vec::with_capacity(members.len());
        for raw in members {
            let (app, user) = parse_member(&raw)?;
            let applied = self.update(&app, &user, PresenceChange::RemoveNode(node.clone()), now).await?;
            out.push(UserTransition { app, user, transition: applied.transition });
        }
        // Forget the node, leave it a tombstone that its next heartbeat finds (should it come back), and release
        // the lock.
        let mut pipe = redis::pipe();
        pipe.del(&set).ignore().zrem(self.keys.nodes(), node.as_str()).ignore();
        pipe.cmd("SET").arg(self.keys.tombstone(node)).arg(now).arg("EX").arg(TOMBSTONE_SECS).ignore();
        pipe.del(self.keys.reaper(node)).ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(unavailable)?;
        tracing::info!(node = %node, users = out.len(), "reaped a dead node");
        Ok(out)
    }
}

fn decode(raw: Option<&str>) -> Result<UserPresence> {
    match raw {
        None => Ok(UserPresence::default()),
        Some(s) => {
            serde_json::from_str(s).map_err(|e| Error::unavailable(format!("stored presence is unreadable: {e}")))
        }
    }
}

fn encode(state: &UserPresence) -> Result<String> {
    serde_json::to_string(state).map_err(|e| Error::unavailable(e.to_string()))
}

fn socket_nodes(state: &UserPresence) -> BTreeSet<NodeId> {
    state.connections.iter().filter(|c| c.source == ConnectionSource::Socket).map(|c| c.node.clone()).collect()
}

#[async_trait]
impl PresenceRegistry for RedisRegistry {
    async fn apply(&self, app: &AppId, user: &UserId, change: PresenceChange, now: Millis) -> Result<Transition> {
        Ok(self.update(app, user, change, now).await?.transition)
    }

    async fn get(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Option<UserPresence>>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // One GET per user in a pipeline rather than MGET: the keys live in different cluster slots.
        let mut pipe = redis::pipe();
        for u in users {
            pipe.get(self.keys.user(app, u));
        }
        let raws: Vec<Option<String>> = pipe.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        raws.iter().map(|r| r.as_deref().map(|s| decode(Some(s))).transpose()).collect()
    }

    async fn expire_due(&self, now: Millis, max: usize) -> Result<Vec<UserTransition>> {
        let due: Vec<(String, f64)> = self
            .conn
            .clone()
            .zrangebyscore_limit_withscores(self.keys.deadlines(), "-inf", now, 0, max as isize)
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(due.len());
        for (raw, score) in due {
            let (app, user) = parse_member(&raw)?;
            let applied = self.update(&app, &user, PresenceChange::Expire, now).await?;
            self.reindex_deadline(&app, &user, &raw, score, applied.after.next_deadline()).await?;
            out.push(UserTransition { app, user, transition: applied.transition });
        }
        Ok(out)
    }

    async fn node_heartbeat(&self, node: &NodeId, until: Millis) -> Result<NodeLiveness> {
        // Two keys in two slots, so two commands: a reaper that finishes between them leaves its tombstone for the
        // next heartbeat to find.
        let mut pipe = redis::pipe();
        pipe.zadd(self.keys.nodes(), node.as_str(), until).ignore().del(self.keys.tombstone(node));
        let (tombstones,): (i64,) = pipe.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        Ok(if tombstones == 0 { NodeLiveness::Alive } else { NodeLiveness::TakenOver })
    }

    async fn leave(&self, node: &NodeId) -> Result<()> {
        // The liveness entry and the node's user set go (the set only serves reaping, which no one will do now);
        // the user records stay with their lease deadlines, which the deadline index hands to the others' sweeps.
        let mut pipe = redis::pipe();
        pipe.zrem(self.keys.nodes(), node.as_str()).ignore().del(self.keys.node_users(node)).ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(unavailable)
    }

    async fn ping(&self) -> Result<()> {
        redis::cmd("PING").query_async::<String>(&mut self.conn.clone()).await.map_err(unavailable).map(drop)
    }

    async fn reap_dead_nodes(&self, now: Millis) -> Result<Vec<UserTransition>> {
        let dead: Vec<String> =
            self.conn.clone().zrangebyscore(self.keys.nodes(), "-inf", now).await.map_err(unavailable)?;
        let mut out = Vec::new();
        for node in dead.into_iter().map(NodeId::new) {
            // Exactly one survivor reaps a node: the one that takes its lock.
            let took: Option<String> = redis::cmd("SET")
                .arg(self.keys.reaper(&node))
                .arg(now)
                .arg("NX")
                .arg("PX")
                .arg(REAP_LOCK_MS)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            if took.is_some() {
                out.extend(self.reap(&node, now).await?);
            }
        }
        Ok(out)
    }
}
