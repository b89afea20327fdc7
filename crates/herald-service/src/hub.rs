//! The fan-out hub of one node: its client connections, and which of them watch which targets.
//!
//! Interest is kept per target, so delivering a change costs one map lookup plus one queue push per interested
//! local connection; nothing is paid for offline subscribers or for connections on other nodes.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use herald_core::bus::{Bus, BusMessage, ControlEvent, Topic};
use herald_core::event::PresenceEvent;
use herald_core::{AppId, Millis, Platform, UserId};
use parking_lot::Mutex;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::now_millis;

/// What a connection's writer sends to its client.
#[derive(Clone, Debug)]
pub enum Outbound {
    Presence(Arc<PresenceEvent>),
}

/// A client connection as the hub sees it.
pub(crate) struct LocalConn {
    pub app: AppId,
    pub user: UserId,
    pub platform: Platform,
    pub tx: mpsc::Sender<Outbound>,
    pub closer: CancellationToken,
    pub close_reason: Mutex<Option<String>>,
    /// The targets this connection currently watches, to undo its interest on close.
    pub targets: Mutex<HashSet<UserId>>,
}

impl LocalConn {
    pub fn close(&self, reason: &str) {
        self.close_reason.lock().get_or_insert_with(|| reason.to_owned());
        self.closer.cancel();
    }
}

struct Watcher {
    conn: u64,
    expires_at: Option<Millis>,
}

type UserKey = (AppId, UserId);

pub(crate) struct Hub {
    bus: Arc<dyn Bus>,
    conns: DashMap<u64, Arc<LocalConn>>,
    by_user: DashMap<UserKey, Vec<u64>>,
    interest: DashMap<UserKey, Vec<Watcher>>,
}

impl Hub {
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        Self { bus, conns: DashMap::new(), by_user: DashMap::new(), interest: DashMap::new() }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub async fn register(&self, seq: u64, conn: Arc<LocalConn>) {
        let key = (conn.app.clone(), conn.user.clone());
        self.conns.insert(seq, conn);
        let first = {
            let mut seqs = self.by_user.entry(key.clone()).or_default();
            seqs.push(seq);
            seqs.len() == 1
        };
        if first {
            self.listen(Topic::Control(key.0, key.1)).await;
        }
    }

    pub async fn unregister(&self, seq: u64) {
        let Some((_, conn)) = self.conns.remove(&seq) else { return };
        let key = (conn.app.clone(), conn.user.clone());
        let last = self
            .by_user
            .remove_if_mut(&key, |_, seqs| {
                seqs.retain(|s| *s != seq);
                seqs.is_empty()
            })
            .is_some();
        if last {
            self.unlisten(Topic::Control(key.0.clone(), key.1.clone())).await;
        }
        let targets: Vec<UserId> = conn.targets.lock().drain().collect();
        for target in targets {
            self.drop_watcher(&key.0, target, seq).await;
        }
    }

    /// Make every local connection of `subscriber` watch the targets (idempotent; refreshes expiry).
    pub async fn add_interest(&self, app: &AppId, subscriber: &UserId, targets: &[(UserId, Option<Millis>)]) {
        for seq in self.local_seqs(app, subscriber) {
            self.watch(seq, app, targets).await;
        }
    }

    /// Make one connection watch the targets.
    pub async fn watch(&self, seq: u64, app: &AppId, targets: &[(UserId, Option<Millis>)]) {
        let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { return };
        for (target, expires_at) in targets {
            conn.targets.lock().insert(target.clone());
            let new_topic = {
                let mut watchers = self.interest.entry((app.clone(), target.clone())).or_default();
                match watchers.iter_mut().find(|w| w.conn == seq) {
                    Some(w) => w.expires_at = *expires_at,
                    None => watchers.push(Watcher { conn: seq, expires_at: *expires_at }),
                }
                watchers.len() == 1
            };
            if new_topic {
                self.listen(Topic::Presence(app.clone(), target.clone())).await;
            }
        }
    }

    pub async fn remove_interest(&self, app: &AppId, subscriber: &UserId, targets: &[UserId]) {
        for seq in self.local_seqs(app, subscriber) {
            let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { continue };
            for target in targets {
                if conn.targets.lock().remove(target) {
                    self.drop_watcher(app, target.clone(), seq).await;
                }
            }
        }
    }

    async fn drop_watcher(&self, app: &AppId, target: UserId, seq: u64) {
        let key = (app.clone(), target);
        let emptied = self
            .interest
            .remove_if_mut(&key, |_, watchers| {
                watchers.retain(|w| w.conn != seq);
                watchers.is_empty()
            })
            .is_some();
        if emptied {
            self.unlisten(Topic::Presence(key.0, key.1)).await;
        }
    }

    fn local_seqs(&self, app: &AppId, user: &UserId) -> Vec<u64> {
        self.by_user.get(&(app.clone(), user.clone())).map(|s| s.clone()).unwrap_or_default()
    }

    /// Close the local connections of a user (on one platform, or all).
    pub fn kick(&self, app: &AppId, user: &UserId, platform: Option<Platform>, reason: &str) {
        for seq in self.local_seqs(app, user) {
            if let Some(conn) = self.conns.get(&seq) {
                if platform.is_none_or(|p| p == conn.platform) {
                    conn.close(reason);
                }
            }
        }
    }

    /// Queue an event for every local connection watching its user. A full queue closes that connection.
    pub fn deliver(&self, event: Arc<PresenceEvent>) {
        let now = now_millis();
        let mut slow = Vec::new();
        if let Some(watchers) = self.interest.get(&(event.app.clone(), event.user_id.clone())) {
            for w in watchers.iter().filter(|w| w.expires_at.is_none_or(|t| t > now)) {
                if let Some(conn) = self.conns.get(&w.conn) {
                    if let Err(TrySendError::Full(_)) = conn.tx.try_send(Outbound::Presence(event.clone())) {
                        slow.push(conn.clone());
                    }
                }
            }
        }
        for conn in slow {
            tracing::warn!(user = %conn.user, "closing a slow consumer: its send queue is full");
            conn.close("slow consumer: send queue full");
        }
    }

    /// The bus handler: runs for every message on a topic this node listens to.
    pub fn on_bus_message(self: &Arc<Self>, message: BusMessage) {
        match message {
            BusMessage::Presence(event) => self.deliver(event),
            BusMessage::Control { app, user, event } => match event {
                ControlEvent::Kick { platform, reason } => self.kick(&app, &user, platform, &reason),
                ControlEvent::InterestAdded { targets } => {
                    let hub = self.clone();
                    tokio::spawn(async move { hub.add_interest(&app, &user, &targets).await });
                }
                ControlEvent::InterestRemoved { targets } => {
                    let hub = self.clone();
                    tokio::spawn(async move { hub.remove_interest(&app, &user, &targets).await });
                }
            },
        }
    }

    async fn listen(&self, topic: Topic) {
        if let Err(e) = self.bus.listen(topic).await {
            tracing::error!(error = %e, "bus listen failed");
        }
    }

    async fn unlisten(&self, topic: Topic) {
        if let Err(e) = self.bus.unlisten(topic).await {
            tracing::error!(error = %e, "bus unlisten failed");
        }
    }
}
