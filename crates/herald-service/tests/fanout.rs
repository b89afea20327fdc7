//! Fan-out inside one node, driven through the service API with the embedded backends.

use std::sync::Arc;
use std::time::Duration;

use herald_core::presence::ChangeCause;
use herald_core::store::{NewUser, RegisterMode};
use herald_core::subscription::SubscriptionKind;
use herald_core::{App, NodeId, Platform, UserId};
use herald_memory::{MemoryBus, MemoryRegistry};
use herald_service::{AppDirectory, Backends, Herald, Outbound, ServiceConfig, UnknownTargets};
use herald_sqlite::{Durability, SqliteStore};

struct Fixture {
    herald: Arc<Herald>,
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

async fn fixture(config: ServiceConfig, users: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("h.db"), Durability::Normal).unwrap();
    let app: App = serde_json::from_value(serde_json::json!({"app_id": "t", "api_key": "k"})).unwrap();
    let backends =
        Backends { store: Arc::new(store), registry: Arc::new(MemoryRegistry::new()), bus: Arc::new(MemoryBus::new()) };
    let herald = Herald::new(backends, AppDirectory::new([app.clone()]).unwrap(), config, NodeId::new("n1"));
    let new: Vec<NewUser> = users.iter().map(|u| NewUser::id_only(uid(u))).collect();
    herald.register_users(&app.app_id, &new, RegisterMode::KeepExisting).await.unwrap();
    let app = herald.apps.get(&app.app_id).unwrap().clone();
    Fixture { herald, app, _dir: dir }
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

#[tokio::test]
async fn a_change_reaches_every_subscriber_connection_once() {
    let users: Vec<String> = (0..50).map(|i| format!("s{i}")).chain(["star".to_owned()]).collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let f = fixture(ServiceConfig::default(), &refs).await;
    let mut conns = Vec::new();
    for s in &refs[..50] {
        let conn = f.herald.connect(f.app.clone(), uid(s), Platform::Web, false).await.unwrap();
        f.herald
            .subscribe(&f.app, &uid(s), &[uid("star")], SubscriptionKind::OnlineStatus, None, UnknownTargets::Reject)
            .await
            .unwrap();
        conns.push(conn);
    }
    let star = f.herald.connect(f.app.clone(), uid("star"), Platform::Ios, false).await.unwrap();
    for conn in &mut conns {
        let Outbound::Presence(e) = conn.outbound.try_recv().expect("delivered before connect returned");
        assert_eq!(e.user_id, uid("star"));
        assert!(e.view.online);
        assert!(conn.outbound.try_recv().is_err(), "exactly once");
    }
    f.herald.disconnect(star, ChangeCause::Disconnected).await;
}

#[tokio::test]
async fn a_slow_consumer_is_closed_without_blocking_others() {
    let config = ServiceConfig { send_queue: 2, grace: Duration::ZERO, ..ServiceConfig::default() };
    let f = fixture(config, &["slow", "fast", "flapper"]).await;
    let slow = f.herald.connect(f.app.clone(), uid("slow"), Platform::Web, false).await.unwrap();
    let mut fast = f.herald.connect(f.app.clone(), uid("fast"), Platform::Web, false).await.unwrap();
    for s in ["slow", "fast"] {
        f.herald
            .subscribe(&f.app, &uid(s), &[uid("flapper")], SubscriptionKind::OnlineStatus, None, UnknownTargets::Reject)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        let c = f.herald.connect(f.app.clone(), uid("flapper"), Platform::Ios, false).await.unwrap();
        f.herald.disconnect(c, ChangeCause::Disconnected).await;
        // The fast one reads everything.
        while fast.outbound.try_recv().is_ok() {}
    }
    tokio::time::timeout(Duration::from_secs(5), slow.closed()).await.expect("the slow consumer is closed");
    assert!(slow.closing().unwrap().reason.contains("slow consumer"));
    assert!(fast.closing().is_none());
}

#[tokio::test]
async fn unsubscribing_and_disconnecting_drop_interest() {
    let f = fixture(ServiceConfig { grace: Duration::ZERO, ..ServiceConfig::default() }, &["a", "b"]).await;
    let mut a = f.herald.connect(f.app.clone(), uid("a"), Platform::Web, false).await.unwrap();
    f.herald
        .subscribe(&f.app, &uid("a"), &[uid("b")], SubscriptionKind::OnlineStatus, None, UnknownTargets::Reject)
        .await
        .unwrap();
    f.herald
        .unsubscribe(&f.app.app_id, &uid("a"), &[uid("b")], SubscriptionKind::OnlineStatus, UnknownTargets::Reject)
        .await
        .unwrap();
    let b = f.herald.connect(f.app.clone(), uid("b"), Platform::Web, false).await.unwrap();
    assert!(a.outbound.try_recv().is_err());
    f.herald.disconnect(b, ChangeCause::Disconnected).await;
    f.herald.disconnect(a, ChangeCause::Disconnected).await;
    assert_eq!(f.herald.local_connections(), 0);
}

#[tokio::test]
async fn a_connection_dropped_without_disconnect_still_goes_offline() {
    let f = fixture(ServiceConfig { grace: Duration::ZERO, ..ServiceConfig::default() }, &["gone"]).await;
    let conn = f.herald.connect(f.app.clone(), uid("gone"), Platform::Web, false).await.unwrap();
    // A connection task that panics drops its connection while unwinding, without the disconnect call.
    let task = tokio::spawn(async move {
        let _held = conn;
        panic!("a frame handler failed");
    });
    assert!(task.await.unwrap_err().is_panic());
    let offline = async {
        loop {
            let p = f.herald.require_presences(&f.app.app_id, &[uid("gone")]).await.unwrap();
            if !p[0].view.online {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), offline).await.expect("the dropped connection went offline");
    assert_eq!(f.herald.local_connections(), 0);
}
