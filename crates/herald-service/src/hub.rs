//! The fan-out hub of one node: its client connections, and which of them watch which targets.
//!
//! Interest is kept per target, so delivering a change costs one map lookup plus one queue push per interested
//! local connection; nothing is paid for offline subscribers or for connections on other nodes.
//!
//! Interest changes of one subscriber apply in the order the store committed them. Every change of a subscriber's
//! interest on this node runs under the subscriber's stripe lock ([`InterestGuard`]): opening and closing its
//! connections, a subscription change made through this node (locked from before the store commits it until it is
//! applied here), and the re-read that follows a change made through another node. A control event only says that
//! a subscriber's subscriptions changed: two nodes that commit changes of one subscriber may publish them in the
//! other order, so instead of applying the event's targets, the receiving node re-reads the subscriptions from the
//! store, where they are in commit order. The node that made a change ignores its own echo: it applied it already.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use herald_core::bus::{AddedTarget, Bus, BusMessage, ControlEvent, Topic};
use herald_core::event::PresenceEvent;
use herald_core::paging::PageRequest;
use herald_core::presence::{ChangeCause, PresenceView};
use herald_core::registry::PresenceRegistry;
use herald_core::store::Store;
use herald_core::subscription::SubscriptionKind;
use herald_core::{AppId, ConnectionId, Millis, NodeId, Platform, Result, UserId};
use parking_lot::Mutex;
use tokio::sync::MutexGuard;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{DELIVERIES_QUEUED, ONLINE_USERS, SLOW_CONSUMER_CLOSES, SLOW_QUEUE_FULL, WS_CONNECTIONS};
use crate::now_millis;
use crate::ordering::UserOrder;

/// Subscriptions read per page when a connection's interest is loaded.
const SUBSCRIPTION_PAGE: usize = 1000;
/// How soon a re-read that could not read the store is tried again.
const REREAD_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a connection's writer sends to its client.
#[derive(Clone, Debug)]
pub enum Outbound {
    Presence(Arc<PresenceEvent>),
}

/// Why the service closes a connection, as far as its client must know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closing {
    /// The client should connect again at once: the server is going away, or lost its record of the connection.
    /// Otherwise it was ended on purpose (kicked, replaced, deleted, too slow).
    pub reconnect: bool,
    pub reason: String,
}

/// A client connection as the hub sees it.
pub(crate) struct LocalConn {
    pub id: ConnectionId,
    pub app: AppId,
    pub user: UserId,
    pub platform: Platform,
    pub tx: mpsc::Sender<Outbound>,
    pub closer: CancellationToken,
    pub closing: Mutex<Option<Closing>>,
    /// The targets this connection currently watches, to undo its interest on close.
    pub targets: Mutex<HashSet<UserId>>,
    /// Set when the connection is closed for not reading its events, so its end is counted as a slow consumer.
    pub slow_consumer: AtomicBool,
}

impl LocalConn {
    /// Ask the connection's task to close it; the first reason given wins. Returns whether this was the first.
    pub fn close(&self, reason: &str) -> bool {
        self.close_with(Closing { reconnect: false, reason: reason.to_owned() })
    }

    pub fn close_with(&self, closing: Closing) -> bool {
        let first = {
            let mut slot = self.closing.lock();
            let first = slot.is_none();
            slot.get_or_insert(closing);
            first
        };
        self.closer.cancel();
        first
    }

    /// Close the connection because its client does not read its events (`reason` is the metric's label); counted
    /// once, and only when no other reason to close it came first.
    pub fn close_slow_consumer(&self, reason: &'static str, message: &str) -> bool {
        let first = self.close(message);
        if first {
            self.slow_consumer.store(true, Ordering::Relaxed);
            metrics::counter!(SLOW_CONSUMER_CLOSES, "reason" => reason).increment(1);
        }
        first
    }

    /// Queue an event; a full queue closes the connection, so a slow client never holds others up. Events keep
    /// coming until the connection's task has closed it: only the first full queue is logged. Returns whether the
    /// event was queued.
    fn push(&self, event: Arc<PresenceEvent>) -> bool {
        match self.tx.try_send(Outbound::Presence(event)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if self.close_slow_consumer(SLOW_QUEUE_FULL, "slow consumer: send queue full") {
                    tracing::warn!(user = %self.user, platform = self.platform.name(), "closing a slow consumer: its send queue is full");
                }
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

struct Watcher {
    conn: u64,
    expires_at: Option<Millis>,
    /// The target's delivery count when this watcher was added: whether the bus has told it anything since.
    since: u64,
}

/// The local connections watching one target.
#[derive(Default)]
struct TargetInterest {
    watchers: Vec<Watcher>,
    /// Events delivered for the target while this entry lived. Counted under the entry's read lock, so a check
    /// that holds the write lock sees every delivery that happened before it, and none can happen during it.
    delivered: AtomicU64,
}

type UserKey = (AppId, UserId);

/// Proof that the subscriber's stripe lock is held: its interest on this node may change.
pub(crate) struct InterestGuard<'a> {
    app: AppId,
    user: UserId,
    _order: MutexGuard<'a, ()>,
}

/// Changes made through other nodes that are waiting for a subscriber's re-read.
struct PendingReread {
    /// Another change arrived after the running re-read started: it must run once more.
    again: bool,
    /// What the subscribe calls answered for the targets they added, for the catch-up after the re-read.
    answered: HashMap<UserId, PresenceView>,
}

pub(crate) struct Hub {
    node: NodeId,
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    registry: Arc<dyn PresenceRegistry>,
    /// The service's background work, which the re-reads join so that stopping waits for them.
    work: TaskTracker,
    conns: DashMap<u64, Arc<LocalConn>>,
    by_user: DashMap<UserKey, Vec<u64>>,
    interest: DashMap<UserKey, TargetInterest>,
    interest_order: UserOrder,
    /// Subscribers with a re-read running. Changes arriving meanwhile share one more re-read, so a burst of them
    /// costs two reads of the subscriber's subscriptions, not one each.
    rereads: DashMap<UserKey, PendingReread>,
}

impl Hub {
    pub fn new(
        node: NodeId,
        bus: Arc<dyn Bus>,
        store: Arc<dyn Store>,
        registry: Arc<dyn PresenceRegistry>,
        work: TaskTracker,
    ) -> Self {
        Self {
            node,
            bus,
            store,
            registry,
            work,
            conns: DashMap::new(),
            by_user: DashMap::new(),
            interest: DashMap::new(),
            interest_order: UserOrder::new(),
            rereads: DashMap::new(),
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Hold a subscriber's stripe lock, so its interest on this node changes in one order. A subscription change
    /// holds it from before the store commits until the change applies here.
    pub async fn lock_interest(&self, app: &AppId, user: &UserId) -> InterestGuard<'_> {
        let order = self.interest_order.lock(app, user).await;
        InterestGuard { app: app.clone(), user: user.clone(), _order: order }
    }

    /// Add a connection and make it watch its user's live subscriptions.
    pub async fn register(&self, seq: u64, conn: Arc<LocalConn>) -> Result<()> {
        let guard = self.lock_interest(&conn.app, &conn.user).await;
        let key = (conn.app.clone(), conn.user.clone());
        metrics::gauge!(WS_CONNECTIONS, "platform" => conn.platform.name()).increment(1.0);
        self.conns.insert(seq, conn);
        let first = {
            let mut seqs = self.by_user.entry(key.clone()).or_default();
            seqs.push(seq);
            seqs.len() == 1
        };
        if first {
            metrics::gauge!(ONLINE_USERS).increment(1.0);
        }
        // Listen before reading: a change committed after the read publishes a control event this node hears.
        if first {
            self.listen(vec![Topic::Control(key.0.clone(), key.1.clone())]).await;
        }
        match self.live_targets(&key.0, &key.1).await {
            Ok(targets) => {
                self.watch(seq, &key.0, &targets).await;
                Ok(())
            }
            Err(e) => {
                self.remove_conn(&guard, seq).await;
                Err(e)
            }
        }
    }

    pub async fn unregister(&self, seq: u64) {
        let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { return };
        let guard = self.lock_interest(&conn.app, &conn.user).await;
        self.remove_conn(&guard, seq).await;
    }

    async fn remove_conn(&self, _guard: &InterestGuard<'_>, seq: u64) {
        let Some((_, conn)) = self.conns.remove(&seq) else { return };
        metrics::gauge!(WS_CONNECTIONS, "platform" => conn.platform.name()).decrement(1.0);
        let key = (conn.app.clone(), conn.user.clone());
        let last = self
            .by_user
            .remove_if_mut(&key, |_, seqs| {
                seqs.retain(|s| *s != seq);
                seqs.is_empty()
            })
            .is_some();
        if last {
            metrics::gauge!(ONLINE_USERS).decrement(1.0);
            self.unlisten(vec![Topic::Control(key.0.clone(), key.1.clone())]).await;
        }
        let targets: Vec<UserId> = conn.targets.lock().drain().collect();
        let emptied: Vec<Topic> = targets
            .into_iter()
            .filter(|t| self.drop_watcher(&key.0, t, seq))
            .map(|t| Topic::Presence(key.0.clone(), t))
            .collect();
        self.unlisten(emptied).await;
    }

    /// Make every local connection of the guard's subscriber watch the targets (idempotent; refreshes expiry).
    pub async fn add_interest(&self, guard: &InterestGuard<'_>, targets: &[(UserId, Option<Millis>)]) {
        for seq in self.local_seqs(&guard.app, &guard.user) {
            self.watch(seq, &guard.app, targets).await;
        }
    }

    pub async fn remove_interest(&self, guard: &InterestGuard<'_>, targets: &[UserId]) {
        for seq in self.local_seqs(&guard.app, &guard.user) {
            self.unwatch(seq, &guard.app, targets).await;
        }
    }

    /// Make one connection watch the targets, and listen to the targets no local connection watched before.
    async fn watch(&self, seq: u64, app: &AppId, targets: &[(UserId, Option<Millis>)]) {
        let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { return };
        let mut new_topics = Vec::new();
        for (target, expires_at) in targets {
            conn.targets.lock().insert(target.clone());
            let mut entry = self.interest.entry((app.clone(), target.clone())).or_default();
            let since = entry.delivered.load(Ordering::Relaxed);
            match entry.watchers.iter_mut().find(|w| w.conn == seq) {
                Some(w) => w.expires_at = *expires_at,
                None => {
                    entry.watchers.push(Watcher { conn: seq, expires_at: *expires_at, since });
                    if entry.watchers.len() == 1 {
                        new_topics.push(Topic::Presence(app.clone(), target.clone()));
                    }
                }
            }
        }
        self.listen(new_topics).await;
    }

    async fn unwatch(&self, seq: u64, app: &AppId, targets: &[UserId]) {
        let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { return };
        let mut emptied = Vec::new();
        for target in targets {
            if conn.targets.lock().remove(target) && self.drop_watcher(app, target, seq) {
                emptied.push(Topic::Presence(app.clone(), target.clone()));
            }
        }
        self.unlisten(emptied).await;
    }

    /// Remove a connection from a target's watchers; whether that left the target unwatched.
    fn drop_watcher(&self, app: &AppId, target: &UserId, seq: u64) -> bool {
        self.interest
            .remove_if_mut(&(app.clone(), target.clone()), |_, interest| {
                interest.watchers.retain(|w| w.conn != seq);
                interest.watchers.is_empty()
            })
            .is_some()
    }

    fn local_seqs(&self, app: &AppId, user: &UserId) -> Vec<u64> {
        self.by_user.get(&(app.clone(), user.clone())).map(|s| s.clone()).unwrap_or_default()
    }

    /// Close the local connections of a user (on one platform, or all).
    pub fn kick(&self, app: &AppId, user: &UserId, platform: Option<Platform>, reason: &str) {
        self.close_where(app, user, reason, |conn| platform.is_none_or(|p| p == conn.platform));
    }

    /// Close one local connection of a user, if it is on this node.
    pub fn close_one(&self, app: &AppId, user: &UserId, connection: &ConnectionId, reason: &str) {
        self.close_where(app, user, reason, |conn| &conn.id == connection);
    }

    /// Close the local connections of a user that `which` picks.
    fn close_where(&self, app: &AppId, user: &UserId, reason: &str, which: impl Fn(&LocalConn) -> bool) {
        for seq in self.local_seqs(app, user) {
            if let Some(conn) = self.conns.get(&seq)
                && which(&conn)
            {
                conn.close(reason);
            }
        }
    }

    /// Close every connection of this node, telling the clients to reconnect; returns how many were not closing
    /// already.
    pub fn close_all(&self, reason: &str) -> usize {
        self.close_all_with(&Closing { reconnect: true, reason: reason.to_owned() })
    }

    pub fn close_all_with(&self, closing: &Closing) -> usize {
        self.conns.iter().filter(|c| c.close_with(closing.clone())).count()
    }

    /// The connections open now, oldest first.
    pub fn connections(&self) -> Vec<Arc<LocalConn>> {
        let mut conns: Vec<(u64, Arc<LocalConn>)> = self.conns.iter().map(|c| (*c.key(), c.clone())).collect();
        conns.sort_unstable_by_key(|(seq, _)| *seq);
        conns.into_iter().map(|(_, c)| c).collect()
    }

    /// Queue an event for every local connection watching its user. A full queue closes that connection.
    pub fn deliver(&self, event: Arc<PresenceEvent>) {
        let now = now_millis();
        let Some(interest) = self.interest.get(&(event.app.clone(), event.user_id.clone())) else { return };
        interest.delivered.fetch_add(1, Ordering::Relaxed);
        let mut queued = 0;
        for w in interest.watchers.iter().filter(|w| w.expires_at.is_none_or(|t| t > now)) {
            if let Some(conn) = self.conns.get(&w.conn) {
                queued += u64::from(conn.push(event.clone()));
            }
        }
        // Counted once per event, not per connection: a change fans out to thousands.
        metrics::counter!(DELIVERIES_QUEUED).increment(queued);
    }

    /// The bus handler: runs for every message on a topic this node listens to. It never waits: interest changes
    /// go to the subscriber's re-read task.
    pub fn on_bus_message(self: &Arc<Self>, message: BusMessage) {
        match message {
            BusMessage::Presence(event) => self.deliver(event),
            BusMessage::UserDeleted { app, user } => self.forget_target(app, user),
            BusMessage::Control { app, user, event } => match event {
                ControlEvent::Kick { platform, reason } => self.kick(&app, &user, platform, &reason),
                ControlEvent::Close { connection, reason } => self.close_one(&app, &user, &connection, &reason),
                ControlEvent::InterestAdded { origin, targets } => {
                    if origin != self.node {
                        self.schedule_reread((app, user), targets);
                    }
                }
                ControlEvent::InterestRemoved { origin, .. } => {
                    if origin != self.node {
                        self.schedule_reread((app, user), Vec::new());
                    }
                }
            },
        }
    }

    /// Tell every node that a user is gone, so connections watching it stop (the store deleted its subscriptions).
    pub async fn announce_deleted(&self, app: &AppId, user: &UserId) {
        let message = BusMessage::UserDeleted { app: app.clone(), user: user.clone() };
        if let Err(e) = self.bus.publish(message).await {
            tracing::error!(error = %e, %user, "could not announce a deleted user");
        }
    }

    /// A deleted user took its subscriptions with it. Its local watchers stop at once, here in the bus handler, so
    /// that a user registered again under the ID, whose changes come later on the same topic, reaches nobody. Their
    /// subscribers then re-read their subscriptions, which also undoes a re-read that raced the deletion.
    fn forget_target(self: &Arc<Self>, app: AppId, target: UserId) {
        let Some((_, interest)) = self.interest.remove(&(app.clone(), target.clone())) else { return };
        let mut subscribers = HashSet::new();
        for w in &interest.watchers {
            if let Some(conn) = self.conns.get(&w.conn) {
                conn.targets.lock().remove(&target);
                subscribers.insert((conn.app.clone(), conn.user.clone()));
            }
        }
        // The entry held one listen of the topic.
        let (hub, topic) = (self.clone(), Topic::Presence(app, target));
        self.work.spawn(async move { hub.unlisten(vec![topic]).await });
        for subscriber in subscribers {
            self.schedule_reread(subscriber, Vec::new());
        }
    }

    /// Re-read a subscriber's subscriptions soon, in its own task; one task per subscriber at a time.
    fn schedule_reread(self: &Arc<Self>, subscriber: UserKey, added: Vec<AddedTarget>) {
        let answered = added.into_iter().map(|t| (t.user_id, t.answered));
        let start = match self.rereads.entry(subscriber.clone()) {
            Entry::Occupied(mut pending) => {
                let pending = pending.get_mut();
                pending.again = true;
                pending.answered.extend(answered);
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(PendingReread { again: true, answered: answered.collect() });
                true
            }
        };
        if start {
            let hub = self.clone();
            self.work.spawn(async move { hub.run_rereads(subscriber).await });
        }
    }

    async fn run_rereads(&self, subscriber: UserKey) {
        loop {
            // Take the pending work before reading, so a change that arrives during the read runs it again.
            let answered = match self.rereads.get_mut(&subscriber) {
                Some(mut pending) => {
                    pending.again = false;
                    std::mem::take(&mut pending.answered)
                }
                None => return,
            };
            if let Err(answered) = self.reread(&subscriber, answered).await {
                // The store did not answer: try again a little later, with what is still to catch up on.
                if let Some(mut pending) = self.rereads.get_mut(&subscriber) {
                    pending.again = true;
                    for (target, view) in answered {
                        pending.answered.entry(target).or_insert(view);
                    }
                }
                tokio::time::sleep(REREAD_RETRY).await;
            }
            if self.rereads.remove_if(&subscriber, |_, pending| !pending.again).is_some() {
                return;
            }
        }
    }

    /// Bring the subscriber's local connections in line with its stored subscriptions, then catch up on changes
    /// of newly added targets that happened before this node could hear them.
    /// Gives the catch-up work back when the subscriptions could not be read.
    async fn reread(
        &self,
        (app, user): &UserKey,
        answered: HashMap<UserId, PresenceView>,
    ) -> std::result::Result<(), HashMap<UserId, PresenceView>> {
        let guard = self.lock_interest(app, user).await;
        let seqs = self.local_seqs(app, user);
        if seqs.is_empty() {
            return Ok(());
        }
        let live = match self.live_targets(app, user).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, %user, "could not re-read subscriptions; retrying");
                return Err(answered);
            }
        };
        let wanted: HashSet<&UserId> = live.iter().map(|(t, _)| t).collect();
        for &seq in &seqs {
            let Some(conn) = self.conns.get(&seq).map(|c| c.clone()) else { continue };
            let gone: Vec<UserId> = conn.targets.lock().iter().filter(|t| !wanted.contains(t)).cloned().collect();
            self.unwatch(seq, app, &gone).await;
            self.watch(seq, app, &live).await;
        }
        self.catch_up(&guard, &seqs, answered).await;
        Ok(())
    }

    /// A subscription made through another node was answered with the targets' presence before this node watched
    /// them; a change in between was published when nobody here listened. Compare the answer with the presence
    /// now, and tell each connection that the bus has told nothing since it began to watch.
    async fn catch_up(&self, guard: &InterestGuard<'_>, seqs: &[u64], answered: HashMap<UserId, PresenceView>) {
        let app = &guard.app;
        let targets: Vec<UserId> = answered.keys().cloned().collect();
        if targets.is_empty() {
            return;
        }
        let states = match self.registry.get(app, &targets).await {
            Ok(states) => states,
            Err(e) => {
                tracing::warn!(error = %e, user = %guard.user, "could not read the presence of new targets");
                return;
            }
        };
        let now = now_millis();
        for (target, state) in targets.into_iter().zip(states) {
            let previous = &answered[&target];
            let view = state.as_ref().map(|s| s.view()).unwrap_or_default();
            if &view == previous {
                continue;
            }
            // The write lock keeps deliveries of the target out while the counts are compared.
            let Some(interest) = self.interest.get_mut(&(app.clone(), target.clone())) else { continue };
            let delivered = interest.delivered.load(Ordering::Relaxed);
            let unheard: Vec<u64> = interest
                .watchers
                .iter()
                .filter(|w| seqs.contains(&w.conn) && w.since == delivered && w.expires_at.is_none_or(|t| t > now))
                .map(|w| w.conn)
                .collect();
            if unheard.is_empty() {
                continue;
            }
            let event = Arc::new(PresenceEvent {
                app: app.clone(),
                user_id: target.clone(),
                cause: inferred_cause(previous, &view),
                previous: previous.clone(),
                details: state.as_ref().map(|s| s.details()).unwrap_or_default(),
                view,
                platform: None,
                at: now,
            });
            for seq in unheard {
                if let Some(conn) = self.conns.get(&seq)
                    && conn.push(event.clone())
                {
                    metrics::counter!(DELIVERIES_QUEUED).increment(1);
                }
            }
        }
    }

    /// Everything a subscriber's connections must watch: its live online-status subscriptions.
    async fn live_targets(&self, app: &AppId, user: &UserId) -> Result<Vec<(UserId, Option<Millis>)>> {
        let mut targets = Vec::new();
        let mut page = PageRequest { after: None, limit: SUBSCRIPTION_PAGE };
        loop {
            let got =
                self.store.subscriptions_of(app, user, SubscriptionKind::OnlineStatus, now_millis(), &page).await?;
            targets.extend(got.items.into_iter().map(|s| (s.target, s.expires_at)));
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(targets),
            }
        }
    }

    async fn listen(&self, topics: Vec<Topic>) {
        if !topics.is_empty()
            && let Err(e) = self.bus.listen_many(topics).await
        {
            tracing::error!(error = %e, "bus listen failed");
        }
    }

    async fn unlisten(&self, topics: Vec<Topic>) {
        if !topics.is_empty()
            && let Err(e) = self.bus.unlisten_many(topics).await
        {
            tracing::error!(error = %e, "bus unlisten failed");
        }
    }
}

/// The cause to report for a change seen only as two views: which part of the view differs.
fn inferred_cause(before: &PresenceView, after: &PresenceView) -> ChangeCause {
    if before.platforms != after.platforms {
        if after.platforms.len() >= before.platforms.len() { ChangeCause::Connected } else { ChangeCause::Disconnected }
    } else if before.custom_status != after.custom_status {
        ChangeCause::CustomStatus
    } else {
        ChangeCause::Background
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use herald_core::ConnectionId;
    use herald_core::presence::{ConnectionRecord, PresenceChange};
    use herald_core::store::{NewUser, RegisterMode};
    use herald_core::subscription::{SubscribeRequest, SubscriptionLimits};
    use herald_memory::{MemoryBus, MemoryRegistry};
    use herald_sqlite::{Durability, SqliteStore};

    use super::*;

    struct Fixture {
        hub: Arc<Hub>,
        bus: Arc<MemoryBus>,
        store: Arc<dyn Store>,
        registry: Arc<MemoryRegistry>,
        /// What the bus delivered to this node. The hub is not the bus handler here: tests hand it messages
        /// themselves, in the order they choose.
        heard: Arc<Mutex<Vec<BusMessage>>>,
        _dir: tempfile::TempDir,
    }

    fn app() -> AppId {
        AppId::parse("t").unwrap()
    }

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    async fn fixture(users: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db"), Durability::Normal).unwrap());
        let new: Vec<NewUser> = users.iter().map(|u| NewUser::id_only(uid(u))).collect();
        store.register_users(&app(), &new, now_millis(), RegisterMode::KeepExisting).await.unwrap();
        let bus = Arc::new(MemoryBus::new());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        bus.set_handler(Arc::new(move |m| sink.lock().push(m)));
        let registry = Arc::new(MemoryRegistry::new());
        let hub =
            Arc::new(Hub::new(NodeId::new("n1"), bus.clone(), store.clone(), registry.clone(), TaskTracker::new()));
        Fixture { hub, bus, store, registry, heard, _dir: dir }
    }

    fn conn(user: &str) -> (Arc<LocalConn>, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(16);
        let conn = LocalConn {
            id: ConnectionId::new(&NodeId::new(user), 0),
            app: app(),
            user: uid(user),
            platform: Platform::Web,
            tx,
            closer: CancellationToken::new(),
            closing: Mutex::new(None),
            targets: Mutex::new(HashSet::new()),
            slow_consumer: AtomicBool::new(false),
        };
        (Arc::new(conn), rx)
    }

    /// Whether the bus delivers the target's presence topic to this node.
    async fn listens_to(f: &Fixture, target: &str) -> bool {
        f.heard.lock().clear();
        f.bus.publish(BusMessage::UserDeleted { app: app(), user: uid(target) }).await.unwrap();
        !f.heard.lock().is_empty()
    }

    async fn store_subscribe(f: &Fixture, subscriber: &str, target: &str) {
        let request = SubscribeRequest {
            subscriber: uid(subscriber),
            targets: vec![uid(target)],
            kind: SubscriptionKind::OnlineStatus,
            expiry_secs: None,
            now: now_millis(),
        };
        let limits = SubscriptionLimits { per_subscriber: 100, per_target: 100 };
        f.store.subscribe(&app(), &request, limits).await.unwrap();
    }

    async fn store_unsubscribe(f: &Fixture, subscriber: &str, target: &str) {
        f.store.unsubscribe(&app(), &uid(subscriber), SubscriptionKind::OnlineStatus, &[uid(target)]).await.unwrap();
    }

    fn control(subscriber: &str, event: ControlEvent) -> BusMessage {
        BusMessage::Control { app: app(), user: uid(subscriber), event }
    }

    fn added(origin: &str, target: &str, answered: PresenceView) -> ControlEvent {
        let targets = vec![AddedTarget { user_id: uid(target), expires_at: None, answered }];
        ControlEvent::InterestAdded { origin: NodeId::new(origin), targets }
    }

    /// Wait until no re-read is pending or running.
    async fn rereads_done(hub: &Hub) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !hub.rereads.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("re-reads finish");
    }

    #[tokio::test]
    async fn watching_a_target_again_listens_once() {
        let f = fixture(&["s", "t"]).await;
        let (c, _rx) = conn("s");
        f.hub.register(1, c).await.unwrap();
        let guard = f.hub.lock_interest(&app(), &uid("s")).await;
        f.hub.add_interest(&guard, &[(uid("t"), None)]).await;
        f.hub.add_interest(&guard, &[(uid("t"), Some(i64::MAX))]).await;
        drop(guard);
        assert!(listens_to(&f, "t").await);
        f.hub.unregister(1).await;
        assert!(!listens_to(&f, "t").await, "the last watcher's close stops listening, however often it watched");
        f.heard.lock().clear();
        f.bus.publish(control("s", ControlEvent::Kick { platform: None, reason: "x".into() })).await.unwrap();
        assert!(f.heard.lock().is_empty(), "nor does the node listen to the subscriber's control topic");
    }

    #[tokio::test]
    async fn interest_follows_the_store_whatever_order_control_events_arrive_in() {
        let f = fixture(&["s", "t"]).await;
        let (c, _rx) = conn("s");
        f.hub.register(1, c.clone()).await.unwrap();
        // Node 2 subscribes, then node 3 unsubscribes; their events cross on the way here.
        store_subscribe(&f, "s", "t").await;
        let subscribed = control("s", added("n2", "t", PresenceView::default()));
        store_unsubscribe(&f, "s", "t").await;
        let unsubscribed =
            control("s", ControlEvent::InterestRemoved { origin: NodeId::new("n3"), targets: vec![uid("t")] });
        f.hub.on_bus_message(unsubscribed);
        f.hub.on_bus_message(subscribed);
        rereads_done(&f.hub).await;
        assert!(c.targets.lock().is_empty(), "the later unsubscribe wins");
        assert!(!listens_to(&f, "t").await);

        store_subscribe(&f, "s", "t").await;
        f.hub.on_bus_message(control("s", added("n2", "t", PresenceView::default())));
        rereads_done(&f.hub).await;
        assert!(c.targets.lock().contains(&uid("t")));
        assert!(listens_to(&f, "t").await);
    }

    #[tokio::test]
    async fn a_node_does_not_apply_its_own_echo() {
        let f = fixture(&["s", "t"]).await;
        let (c, _rx) = conn("s");
        f.hub.register(1, c.clone()).await.unwrap();
        // A change this node made is applied with its commit; its echo is not applied again, so a later change here
        // cannot be undone by it. (The store is changed behind the hub's back only to make a re-read visible.)
        store_subscribe(&f, "s", "t").await;
        f.hub.on_bus_message(control("s", added("n1", "t", PresenceView::default())));
        rereads_done(&f.hub).await;
        assert!(c.targets.lock().is_empty());
    }

    #[tokio::test]
    async fn a_change_before_this_node_watched_is_caught_up_once() {
        let f = fixture(&["s", "t", "u"]).await;
        let (c, mut rx) = conn("s");
        f.hub.register(1, c).await.unwrap();
        // Another node answered its subscribe with t offline; t came online before this node listened.
        let record = ConnectionRecord::socket(
            ConnectionId::new(&NodeId::new("n3"), 1),
            NodeId::new("n3"),
            Platform::Ios,
            false,
            now_millis(),
        );
        f.registry.apply(&app(), &uid("t"), PresenceChange::Connect(record), now_millis()).await.unwrap();
        store_subscribe(&f, "s", "t").await;
        f.hub.on_bus_message(control("s", added("n2", "t", PresenceView::default())));
        rereads_done(&f.hub).await;
        let Ok(Outbound::Presence(event)) = rx.try_recv() else { panic!("the missed change is delivered") };
        assert_eq!((event.user_id.as_str(), event.view.online, event.previous.online), ("t", true, false));
        assert_eq!(event.cause, ChangeCause::Connected);
        // u's subscribe was answered with what u still is: nothing to catch up on.
        store_subscribe(&f, "s", "u").await;
        f.hub.on_bus_message(control("s", added("n2", "u", PresenceView::default())));
        rereads_done(&f.hub).await;
        assert!(rx.try_recv().is_err(), "nothing more");
    }
}
