//! The PresenceRegistry and Bus suite. Each case gets a fresh backend: a registry and a second handle to the same
//! state (another node's view), and a bus with, for shared buses, a second node's bus.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use herald_core::bus::{Bus, BusMessage, ControlEvent, Topic};
use herald_core::presence::{ChangeCause, ConnectionRecord, PresenceChange};
use herald_core::registry::{NodeLiveness, PresenceRegistry};
use herald_core::{AppId, ConnectionId, NodeId, Platform, UserId};
use tokio::sync::mpsc;

const T0: i64 = 1_700_000_000_000;
/// Generous: the machine running the suite may be loaded.
const WAIT: Duration = Duration::from_secs(10);
/// How long a message that must not arrive is given to show up anyway.
const QUIET: Duration = Duration::from_millis(300);

/// A fresh backend for one case.
pub struct Backend {
    pub registry: Arc<dyn PresenceRegistry>,
    /// Another node's handle on the same registry state (the same object for a single-node registry).
    pub peer_registry: Arc<dyn PresenceRegistry>,
    pub bus: Arc<dyn Bus>,
    /// Another node's bus on the same channels; `None` for a bus that lives in one process.
    pub peer_bus: Option<Arc<dyn Bus>>,
    /// Removes what the case left behind (keys under its prefix).
    pub cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

fn app() -> AppId {
    AppId::parse("t1").unwrap()
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn connect(node: &NodeId, seq: u64, platform: Platform, now: i64) -> PresenceChange {
    PresenceChange::Connect(ConnectionRecord::socket(ConnectionId::new(node, seq), node.clone(), platform, false, now))
}

pub async fn apply_and_get(b: Backend) {
    let (a, n) = (app(), NodeId::new("n1"));
    let r = &b.registry;
    let t = r.apply(&a, &uid("alice"), connect(&n, 1, Platform::Web, T0), T0).await.unwrap();
    assert!(t.changed() && t.after.online);
    let t = r.apply(&a, &uid("alice"), connect(&n, 2, Platform::Ios, T0), T0 + 1).await.unwrap();
    assert_eq!(t.after.platforms, vec![Platform::Ios, Platform::Web]);
    let got = b.peer_registry.get(&a, &[uid("bob"), uid("alice")]).await.unwrap();
    assert!(got[0].is_none(), "a user without records has no state");
    let alice = got[1].as_ref().expect("alice has records");
    assert_eq!(alice.connections.len(), 2);
    assert!(alice.view().online);
    let other_app = b.registry.get(&AppId::parse("t2").unwrap(), &[uid("alice")]).await.unwrap();
    assert!(other_app[0].is_none(), "apps are isolated");
    let t = r.apply(&a, &uid("alice"), PresenceChange::Kick { platform: None }, T0 + 2).await.unwrap();
    assert!(!t.after.online);
    assert_eq!(t.removed.len(), 2);
    assert!(r.get(&a, &[uid("alice")]).await.unwrap()[0].is_none(), "an empty state is forgotten");
}

pub async fn invalid_change_leaves_state_alone(b: Backend) {
    let a = app();
    let err = b.registry.apply(&a, &uid("u"), PresenceChange::SetCustomStatus(Some("x".into())), T0).await;
    assert!(err.is_err(), "a custom status needs presence");
    assert!(b.registry.get(&a, &[uid("u")]).await.unwrap()[0].is_none());
}

pub async fn concurrent_changes_to_one_user_serialize(b: Backend) {
    let a = app();
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        let registry = if i % 2 == 0 { b.registry.clone() } else { b.peer_registry.clone() };
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let node = NodeId::new(format!("n{}", i % 3));
            registry.apply(&a, &uid("hot"), connect(&node, i, Platform::Web, T0), T0).await.unwrap()
        }));
    }
    let mut went_online = 0;
    for t in tasks {
        if t.await.unwrap().changed() {
            went_online += 1;
        }
    }
    assert_eq!(went_online, 1, "exactly one of the concurrent connects made the user online");
    let state = b.registry.get(&a, &[uid("hot")]).await.unwrap().remove(0).unwrap();
    assert_eq!(state.connections.len(), 24, "no concurrent change was lost");
}

pub async fn expire_due_handles_lingering_closes_once(b: Backend) {
    let (a, n) = (app(), NodeId::new("n1"));
    let r = &b.registry;
    r.apply(&a, &uid("u1"), connect(&n, 1, Platform::Web, T0), T0).await.unwrap();
    r.apply(&a, &uid("u2"), connect(&n, 2, Platform::Web, T0), T0).await.unwrap();
    let close = |seq| PresenceChange::Disconnect {
        id: ConnectionId::new(&n, seq),
        cause: ChangeCause::Disconnected,
        grace: 1000,
    };
    assert!(!r.apply(&a, &uid("u1"), close(1), T0 + 100).await.unwrap().changed(), "a close lingers");
    r.apply(&a, &uid("u2"), close(2), T0 + 500).await.unwrap();

    let early: Vec<_> =
        r.expire_due(T0 + 1099, 100).await.unwrap().into_iter().filter(|t| t.transition.changed()).collect();
    assert!(early.is_empty(), "nothing is due yet");
    let due = r.expire_due(T0 + 1100, 100).await.unwrap();
    let changed: Vec<_> = due.iter().filter(|t| t.transition.changed()).collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].user, uid("u1"));
    assert_eq!(changed[0].transition.cause, ChangeCause::Disconnected);
    assert!(!changed[0].transition.after.online);

    // Both nodes sweep: the change happens once.
    let (x, y) = tokio::join!(r.expire_due(T0 + 2000, 100), b.peer_registry.expire_due(T0 + 2000, 100));
    let changed = x.unwrap().into_iter().chain(y.unwrap()).filter(|t| t.transition.changed()).count();
    assert_eq!(changed, 1, "u2 went offline exactly once");
    let after = r.expire_due(T0 + 10_000, 100).await.unwrap();
    assert!(after.iter().all(|t| !t.transition.changed()), "nothing is left to expire");
    assert!(r.get(&a, &[uid("u1"), uid("u2")]).await.unwrap().iter().all(Option::is_none));
}

/// Leases that start and end while sweeps run must leave the deadline index exact: a stale entry would be
/// revisited by every later sweep and eat its budget.
pub async fn leases_racing_sweeps_leave_nothing_due(b: Backend) {
    let (a, n) = (app(), NodeId::new("n1"));
    let users: Vec<UserId> = (0..3).map(|i| uid(&format!("racer{i}"))).collect();
    let far = T0 + 1_000_000;
    let leases = {
        let (r, a, users, n) = (b.registry.clone(), a.clone(), users.clone(), n.clone());
        tokio::spawn(async move {
            for round in 0..60 {
                for user in &users {
                    let report = PresenceChange::Report {
                        platform: Platform::Android,
                        ttl: 1000,
                        background: false,
                        node: n.clone(),
                    };
                    r.apply(&a, user, report, T0 + round).await.unwrap();
                }
            }
        })
    };
    let ends = {
        let (r, a, users) = (b.peer_registry.clone(), a.clone(), users.clone());
        tokio::spawn(async move {
            for round in 0..60 {
                for user in &users {
                    if round % 2 == 0 {
                        r.apply(&a, user, PresenceChange::ReportOffline { platform: None }, far).await.unwrap();
                    }
                }
                r.expire_due(far, 100).await.unwrap();
            }
        })
    };
    leases.await.unwrap();
    ends.await.unwrap();
    // One sweep settles what is left; after it nothing at all may be due, not even a no-op visit.
    b.registry.expire_due(far, 1000).await.unwrap();
    let again = b.registry.expire_due(far, 1000).await.unwrap();
    let users: Vec<&UserId> = again.iter().map(|t| &t.user).collect();
    assert!(again.is_empty(), "a sweep after everything expired still visits {users:?}");
    assert!(b.registry.get(&a, &[uid("racer0")]).await.unwrap()[0].is_none());
}

pub async fn reconnect_within_grace_keeps_nothing_due(b: Backend) {
    let (a, n) = (app(), NodeId::new("n1"));
    let r = &b.registry;
    r.apply(&a, &uid("u"), connect(&n, 1, Platform::Ios, T0), T0).await.unwrap();
    let close =
        PresenceChange::Disconnect { id: ConnectionId::new(&n, 1), cause: ChangeCause::Disconnected, grace: 1000 };
    r.apply(&a, &uid("u"), close, T0 + 10).await.unwrap();
    assert!(!r.apply(&a, &uid("u"), connect(&n, 2, Platform::Ios, T0 + 20), T0 + 20).await.unwrap().changed());
    let due = r.expire_due(T0 + 5000, 100).await.unwrap();
    assert!(due.iter().all(|t| !t.transition.changed()), "the replacement holds no lease");
    assert!(r.get(&a, &[uid("u")]).await.unwrap()[0].as_ref().unwrap().view().online);
}

pub async fn reported_presence_expires(b: Backend) {
    let (a, n) = (app(), NodeId::new("n1"));
    let report = PresenceChange::Report { platform: Platform::Android, ttl: 1000, background: false, node: n };
    assert!(b.registry.apply(&a, &uid("u"), report, T0).await.unwrap().changed());
    assert!(b.peer_registry.expire_due(T0 + 999, 100).await.unwrap().iter().all(|t| !t.transition.changed()));
    let due = b.peer_registry.expire_due(T0 + 1000, 100).await.unwrap();
    assert_eq!(due.iter().filter(|t| t.transition.changed()).count(), 1);
    assert_eq!(due[0].transition.cause, ChangeCause::TimedOut);
}

pub async fn dead_node_is_reaped_once(b: Backend) {
    let a = app();
    let (dead, alive) = (NodeId::new("dead"), NodeId::new("alive"));
    b.registry.node_heartbeat(&dead, T0 + 1000).await.unwrap();
    b.registry.node_heartbeat(&alive, T0 + 60_000).await.unwrap();
    for (i, user) in ["u1", "u2", "u3"].into_iter().enumerate() {
        b.registry.apply(&a, &uid(user), connect(&dead, i as u64, Platform::Web, T0), T0).await.unwrap();
    }
    b.registry.apply(&a, &uid("u3"), connect(&alive, 9, Platform::Ios, T0), T0).await.unwrap();
    b.registry.apply(&a, &uid("u4"), connect(&alive, 10, Platform::Ios, T0), T0).await.unwrap();

    assert!(b.registry.reap_dead_nodes(T0 + 999).await.unwrap().is_empty(), "the node is still alive");
    let (x, y) = tokio::join!(b.registry.reap_dead_nodes(T0 + 2000), b.peer_registry.reap_dead_nodes(T0 + 2000));
    let all: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).filter(|t| t.transition.changed()).collect();
    let mut offline: Vec<String> =
        all.iter().filter(|t| !t.transition.after.online).map(|t| t.user.as_str().to_owned()).collect();
    offline.sort();
    assert_eq!(offline, vec!["u1", "u2"], "the dead node's users went offline, once each");
    let u3 = all.iter().find(|t| t.user == uid("u3")).expect("u3 lost a platform");
    assert_eq!(u3.transition.after.platforms, vec![Platform::Ios]);
    assert_eq!(u3.transition.cause, ChangeCause::TimedOut);
    assert!(b.registry.reap_dead_nodes(T0 + 3000).await.unwrap().is_empty(), "a node is reaped once");
    let got = b.registry.get(&a, &[uid("u1"), uid("u4")]).await.unwrap();
    assert!(got[0].is_none());
    assert!(got[1].as_ref().unwrap().view().online, "users of live nodes are untouched");
}

pub async fn a_reaped_node_learns_it_and_is_reaped_again_when_it_dies_again(b: Backend) {
    let a = app();
    let node = NodeId::new("paused");
    assert_eq!(b.registry.node_heartbeat(&node, T0 + 1000).await.unwrap(), NodeLiveness::Alive);
    b.registry.apply(&a, &uid("u1"), connect(&node, 1, Platform::Web, T0), T0).await.unwrap();
    assert_eq!(b.peer_registry.reap_dead_nodes(T0 + 2000).await.unwrap().len(), 1);
    // The node resumes: its first heartbeat learns it was taken over, the next ones do not.
    assert_eq!(b.registry.node_heartbeat(&node, T0 + 3000).await.unwrap(), NodeLiveness::TakenOver);
    assert_eq!(b.registry.node_heartbeat(&node, T0 + 4000).await.unwrap(), NodeLiveness::Alive);
    // Its clients reconnect; then it dies for good. It is reaped as soon as it is due, not after a lock runs out.
    b.registry.apply(&a, &uid("u1"), connect(&node, 2, Platform::Web, T0 + 3500), T0 + 3500).await.unwrap();
    let reaped = b.peer_registry.reap_dead_nodes(T0 + 5000).await.unwrap();
    assert_eq!(reaped.iter().filter(|t| !t.transition.after.online).count(), 1, "reaped again");
    assert!(b.registry.get(&a, &[uid("u1")]).await.unwrap()[0].is_none());
}

/// Install a handler that forwards every message into a channel.
fn collect(bus: &Arc<dyn Bus>) -> mpsc::UnboundedReceiver<BusMessage> {
    let (tx, rx) = mpsc::unbounded_channel();
    bus.set_handler(Arc::new(move |m| {
        let _ = tx.send(m);
    }));
    rx
}

fn kick(user: &str, reason: &str) -> BusMessage {
    BusMessage::Control {
        app: app(),
        user: uid(user),
        event: ControlEvent::Kick { platform: Some(Platform::Web), reason: reason.into() },
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<BusMessage>) -> BusMessage {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a message within the wait").expect("bus alive")
}

/// Publish `probe` on a listened topic and return what arrives up to and including it: what was published before
/// it on other topics arrives first if it arrives at all.
async fn until_probe(
    bus: &Arc<dyn Bus>,
    rx: &mut mpsc::UnboundedReceiver<BusMessage>,
    probe: BusMessage,
) -> Vec<BusMessage> {
    bus.publish(probe.clone()).await.unwrap();
    let mut got = Vec::new();
    loop {
        let m = next(rx).await;
        let done = m == probe;
        got.push(m);
        if done {
            return got;
        }
    }
}

pub async fn bus_delivers_listened_topics_only(b: Backend) {
    let mut rx = collect(&b.bus);
    let topic = Topic::Control(app(), uid("a"));
    b.bus.listen(topic.clone()).await.unwrap();
    b.bus.listen(Topic::Control(app(), uid("probe"))).await.unwrap();
    let message = kick("a", "one");
    b.bus.publish(message.clone()).await.unwrap();
    assert_eq!(next(&mut rx).await, message);
    b.bus.publish(kick("nobody", "unheard")).await.unwrap();
    let got = until_probe(&b.bus, &mut rx, kick("probe", "p1")).await;
    assert_eq!(got, vec![kick("probe", "p1")], "a topic nobody listens to is not delivered");
}

pub async fn bus_listening_is_counted(b: Backend) {
    let mut rx = collect(&b.bus);
    let topic = Topic::Control(app(), uid("a"));
    b.bus.listen(Topic::Control(app(), uid("probe"))).await.unwrap();
    b.bus.listen(topic.clone()).await.unwrap();
    b.bus.listen(topic.clone()).await.unwrap();
    b.bus.unlisten(topic.clone()).await.unwrap();
    b.bus.publish(kick("a", "still")).await.unwrap();
    assert_eq!(next(&mut rx).await, kick("a", "still"), "one listen is left");
    b.bus.unlisten(topic.clone()).await.unwrap();
    b.bus.publish(kick("a", "gone")).await.unwrap();
    let got = until_probe(&b.bus, &mut rx, kick("probe", "p2")).await;
    assert_eq!(got, vec![kick("probe", "p2")], "the last unlisten stops delivery");
}

pub async fn bus_listen_many_is_counted_per_topic(b: Backend) {
    let mut rx = collect(&b.bus);
    let (one, two, probe) =
        (Topic::Control(app(), uid("a")), Topic::Control(app(), uid("b")), Topic::Control(app(), uid("probe")));
    b.bus.listen_many(vec![one.clone(), two.clone(), probe]).await.unwrap();
    b.bus.listen(one.clone()).await.unwrap();
    b.bus.unlisten_many(vec![one.clone(), two]).await.unwrap();
    b.bus.publish(kick("b", "unheard")).await.unwrap();
    b.bus.publish(kick("a", "still")).await.unwrap();
    let got = until_probe(&b.bus, &mut rx, kick("probe", "p4")).await;
    assert_eq!(got, vec![kick("a", "still"), kick("probe", "p4")], "each topic keeps its own count");
    b.bus.unlisten_many(vec![one]).await.unwrap();
    b.bus.publish(kick("a", "gone")).await.unwrap();
    let got = until_probe(&b.bus, &mut rx, kick("probe", "p5")).await;
    assert_eq!(got, vec![kick("probe", "p5")]);
}

/// Many callers listen and unlisten at once, some on the same topics: once they are done, exactly the topics
/// with listeners left are delivered.
pub async fn bus_concurrent_listening_settles_to_the_counts(b: Backend) {
    let mut rx = collect(&b.bus);
    let probe = Topic::Control(app(), uid("probe"));
    b.bus.listen(probe).await.unwrap();
    // Every even topic ends with one listener, every odd one with none; all go up and down meanwhile.
    let topics: Vec<String> = (0..24).map(|i| format!("t{i}")).collect();
    let mut tasks = Vec::new();
    for (i, user) in topics.iter().enumerate() {
        for worker in 0..2 {
            let (bus, topic) = (b.bus.clone(), Topic::Control(app(), uid(user)));
            let keep = i % 2 == 0 && worker == 0;
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    bus.listen(topic.clone()).await.unwrap();
                    tokio::task::yield_now().await;
                    bus.unlisten(topic.clone()).await.unwrap();
                }
                if keep {
                    bus.listen_many(vec![topic]).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for user in &topics {
        b.bus.publish(kick(user, "after")).await.unwrap();
    }
    let got = until_probe(&b.bus, &mut rx, kick("probe", "p6")).await;
    let mut heard: Vec<String> = got
        .iter()
        .filter_map(|m| match m {
            BusMessage::Control { user, .. } if user.as_str() != "probe" => Some(user.as_str().to_owned()),
            _ => None,
        })
        .collect();
    heard.sort();
    let mut expected: Vec<String> = topics.iter().step_by(2).cloned().collect();
    expected.sort();
    assert_eq!(heard, expected);
}

pub async fn bus_reaches_other_nodes(b: Backend) {
    let Some(peer) = b.peer_bus.clone() else {
        eprintln!("bus_reaches_other_nodes: a single-process bus has no other node; skipped");
        return;
    };
    let mut rx = collect(&b.bus);
    let mut peer_rx = collect(&peer);
    let topic = Topic::Control(app(), uid("a"));
    b.bus.listen(topic.clone()).await.unwrap();
    peer.publish(kick("a", "from the peer")).await.unwrap();
    assert_eq!(next(&mut rx).await, kick("a", "from the peer"));
    // The peer does not listen, so it hears nothing, not even its own message.
    peer.listen(Topic::Control(app(), uid("probe"))).await.unwrap();
    let got = until_probe(&peer, &mut peer_rx, kick("probe", "p3")).await;
    assert_eq!(got, vec![kick("probe", "p3")]);
    tokio::time::sleep(QUIET).await;
    assert!(rx.try_recv().is_err(), "the probe went only to its listener");
}
