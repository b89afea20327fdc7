//! Stopping and restarting without presence flaps: SIGTERM drains (readiness 503, no new sockets, close code 1012
//! spread over the drain window, queued webhooks sent), a drained single node resumes its presence on restart, a
//! crashed one takes its users offline once, and a drained cluster node leaves its users to linger elsewhere.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::support::{Options, Server, Ws};

/// A webhook receiver that answers each call after `delay` and passes on every body it got.
async fn receiver(delay: Duration) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(serde_json::from_slice::<Value>(&body).expect("JSON webhook"));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// Every webhook that arrives within `quiet` of the previous one.
async fn drain_hooks(rx: &mut mpsc::UnboundedReceiver<Value>, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(v)) = tokio::time::timeout(quiet, rx.recv()).await {
        got.push(v);
    }
    got
}

/// The presence webhooks among `hooks`, as (user, online, cause).
fn presence_hooks(hooks: &[Value]) -> Vec<(String, bool, String)> {
    hooks
        .iter()
        .filter(|h| h["type"] == "presence.changed")
        .map(|h| {
            let user = h["user_id"].as_str().unwrap_or_default().to_owned();
            (user, h["online"].as_bool().unwrap_or_default(), h["cause"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

fn config(hook: &str, presence: &str) -> String {
    format!("[presence]\n{presence}\n[default_app.webhooks]\nnative_url = \"{hook}\"\n")
}

async fn get_status(s: &Server, path: &str) -> (u16, Value) {
    let r = s.http.get(format!("{}{path}", s.base)).send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn readiness_names_each_check() {
    let s = Server::start().await;
    let (status, body) = get_status(&s, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "ready", "checks": {"store": "ok", "presence": "ok"}}));
}

#[tokio::test]
async fn sigterm_drains_sockets_with_1012_and_sends_every_queued_webhook() {
    // Each webhook takes 50 ms to answer, and one follower's events share one lane: 40 of them are still queued
    // when the signal comes.
    let (hook, mut hooks) = receiver(Duration::from_millis(50)).await;
    let toml = config(&hook, "drain_secs = 4");
    let s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    let users: Vec<String> = (0..5).map(|i| format!("u{i}")).collect();
    let followees: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
    let mut all: Vec<&str> = users.iter().chain(&followees).map(String::as_str).collect();
    all.push("fan");
    s.register(&all).await;
    let mut sockets: Vec<Ws> = Vec::new();
    for u in &users {
        sockets.push(s.connect(u, "web").await);
    }
    for f in &followees {
        let (status, body) = s.post("/v1/follows", json!({"follower": "fan", "followees": [f]})).await;
        assert_eq!(status, 200, "{body}");
    }

    let token = s.token("u0").await;
    s.signal("TERM");
    // Readiness fails at once, and no new socket is taken, while the open ones are still being closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let body = loop {
        let (status, body) = get_status(&s, "/readyz").await;
        if status == 503 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz still {status} {body} after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(body["status"], "draining", "{body}");
    let refused = s.upgrade_request(&format!("{}/v1/ws?token={token}&platform=ios", s.base)).await;
    assert_eq!(refused.status().as_u16(), 503);
    let refusal: Value = refused.json().await.expect("JSON refusal");
    assert_eq!(refusal["error"]["code"], "draining", "{refusal}");

    for ws in &mut sockets {
        assert_eq!(ws.closed().await, Some(1012), "every client is told to reconnect");
    }
    let mut s = s;
    let status = s.terminate(Duration::from_secs(15));
    assert!(status.success(), "a drained stop exits cleanly: {status}");

    // Everything queued before the signal went out before the process ended.
    let got = drain_hooks(&mut hooks, Duration::from_millis(300)).await;
    let follows = got.iter().filter(|h| h["type"] == "follow.added").count();
    assert_eq!(follows, followees.len(), "{got:#?}");
    let online: Vec<_> = presence_hooks(&got).into_iter().filter(|(_, online, _)| *online).collect();
    assert_eq!(online.len(), users.len(), "{got:#?}");
}

#[tokio::test]
async fn a_drained_restart_is_invisible_to_users_who_come_back() {
    let (hook, mut hooks) = receiver(Duration::ZERO).await;
    // A drain window longer than the grace period: the first socket closed must still linger at the restart.
    let toml = config(&hook, "drain_secs = 1\nrestart_grace_secs = 3");
    let opts = Options { config_toml: Some(toml), grace_secs: 0.2, ..Options::default() };
    let mut first = Server::start_with(opts.clone()).await;
    first.register(&["alice", "bob", "carol"]).await;
    let mut alice = first.connect("alice", "ios").await;
    let mut bob = first.connect("bob", "web").await;
    let before = presence_hooks(&drain_hooks(&mut hooks, Duration::from_millis(500)).await);
    assert_eq!(before.len(), 2, "{before:?}");

    let kept = first.keep_data();
    let status = first.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(alice.closed().await, Some(1012));
    assert_eq!(bob.closed().await, Some(1012));

    let second = Server::start_with(Options { data: Some(first.data.clone()), ..opts }).await;
    let _kept = kept;
    // alice comes back; bob does not.
    let _alice = second.connect("alice", "ios").await;
    let mut carol = second.connect("carol", "web").await;
    let reply = carol.subscribe(&["alice", "bob"]).await;
    let online: Vec<(&str, bool)> = reply["presences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["user_id"].as_str().unwrap(), p["online"].as_bool().unwrap()))
        .collect();
    assert_eq!(online, [("alice", true), ("bob", true)], "the restart took no one offline");

    // bob goes offline once when the restart allowance runs out; alice never changed.
    let e = carol.presence().await;
    assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("bob"), Some(false)), "{e}");
    assert_eq!(carol.recv_within(Duration::from_secs(1)).await, None);
    let after = presence_hooks(&drain_hooks(&mut hooks, Duration::from_millis(500)).await);
    let others: Vec<_> = after.into_iter().filter(|(user, _, _)| user != "carol").collect();
    assert_eq!(others, [("bob".to_owned(), false, "disconnected".to_owned())]);
}

#[tokio::test]
async fn after_a_crash_every_user_it_had_online_goes_offline_once() {
    let (hook, mut hooks) = receiver(Duration::ZERO).await;
    let opts = Options { config_toml: Some(config(&hook, "")), ..Options::default() };
    let mut first = Server::start_with(opts.clone()).await;
    first.register(&["alice", "bob", "carol"]).await;
    let _alice = first.connect("alice", "ios").await;
    let _bob = first.connect("bob", "web").await;
    let carol = first.connect("carol", "web").await;
    carol.close().await;
    let before = presence_hooks(&drain_hooks(&mut hooks, Duration::from_millis(500)).await);
    assert_eq!(before.len(), 4, "{before:?}");

    let kept = first.keep_data();
    first.kill();
    let second = Server::start_with(Options { data: Some(first.data.clone()), ..opts }).await;
    let _kept = kept;
    let mut after = presence_hooks(&drain_hooks(&mut hooks, Duration::from_millis(800)).await);
    after.sort();
    let offline = |u: &str| (u.to_owned(), false, "timed_out".to_owned());
    assert_eq!(after, [offline("alice"), offline("bob")]);
    let (_, body) = second.post("/v1/presence/query", json!({"user_ids": ["alice"]})).await;
    let alice = &body["results"][0]["presence"];
    assert_eq!(alice["online"], false, "{body}");
    assert!(alice["last_seen"].is_i64(), "{body}");
}

/// Two nodes with a node TTL far longer than the grace period, so an offline event at the grace period cannot
/// come from the dead node's reaping.
async fn two_nodes() -> Cluster {
    let toml = "[presence]\ndrain_secs = 0.2\n".to_owned();
    let options = Options { grace_secs: 1.5, node_ttl_secs: Some(30.0), config_toml: Some(toml), ..Options::default() };
    Cluster::start_with(2, options).await
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn a_user_who_reconnects_to_another_node_after_a_drain_changes_nothing() {
    let mut cluster = two_nodes().await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    a.register(&["watcher", "walker"]).await;
    let mut watcher = a.connect("watcher", "web").await;
    let mut walker = b.connect("walker", "ios").await;
    assert_eq!(watcher.subscribe(&["walker"]).await["presences"][0]["online"], true);

    let status = cluster.nodes[1].terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(walker.closed().await, Some(1012));
    let _walker = cluster.nodes[0].connect("walker", "ios").await;
    assert_eq!(watcher.recv_within(Duration::from_secs(3)).await, None, "the subscriber sees nothing at all");
    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn a_user_who_does_not_come_back_after_a_drain_goes_offline_once_at_the_grace_period() {
    let mut cluster = two_nodes().await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    a.register(&["watcher", "walker"]).await;
    let mut watcher = a.connect("watcher", "web").await;
    let mut walker = b.connect("walker", "ios").await;
    assert_eq!(watcher.subscribe(&["walker"]).await["presences"][0]["online"], true);

    let status = cluster.nodes[1].terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(walker.closed().await, Some(1012));
    // Within seconds, not at the 30 s node TTL, and as a disconnect: the survivor's sweep expired the lingering
    // record; reaping the node (which would say timed_out) was not needed.
    let e = watcher.presence().await;
    let got = (e["user_id"].as_str(), e["online"].as_bool(), e["cause"].as_str());
    assert_eq!(got, (Some("walker"), Some(false), Some("disconnected")), "{e}");
    assert_eq!(watcher.recv_within(Duration::from_secs(3)).await, None, "exactly one offline event");
    cluster.cleanup().await;
}
