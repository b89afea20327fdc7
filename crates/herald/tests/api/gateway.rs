//! The WebSocket gateway end to end: presence from connections, subscriptions over the socket, pushes, flap
//! damping, heartbeats, kicks and bad frames.

use std::time::Duration;

use crate::support::{Options, Server};
use serde_json::json;

#[tokio::test]
async fn subscriber_gets_current_status_then_every_change() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    let reply = alice.subscribe(&["bob"]).await;
    let p = &reply["presences"][0];
    assert_eq!(p["type"], "presence");
    assert_eq!(p["user_id"], "bob");
    assert_eq!(p["online"], false);
    assert_eq!(p["platforms"], json!([]));

    let bob_ios = s.connect("bob", "ios").await;
    let ev = alice.presence().await;
    assert_eq!((ev["user_id"].as_str(), ev["online"].as_bool()), (Some("bob"), Some(true)));
    assert_eq!(ev["platforms"], json!(["ios"]));
    assert!(ev["at"].as_i64().unwrap() > 1_600_000_000_000);

    let bob_web = s.connect("bob", "web").await;
    let ev = alice.presence().await;
    assert_eq!(ev["platforms"], json!(["ios", "web"]));

    bob_ios.close().await;
    let ev = alice.presence().await;
    assert_eq!(ev["platforms"], json!(["web"]), "after the grace period");
    bob_web.close().await;
    let ev = alice.presence().await;
    assert_eq!(ev["online"], false);
    assert_eq!(ev["platforms"], json!([]));
    assert!(alice.recv_within(Duration::from_millis(500)).await.is_none(), "exactly one event per change");
}

#[tokio::test]
async fn pushed_frames_are_presence_objects_with_a_cause() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    let queried = alice.subscribe(&["bob"]).await["presences"][0].clone();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    };
    let mut with_cause = keys(&queried);
    with_cause.push("cause".into());
    with_cause.sort();

    let bob = s.connect("bob", "ios").await;
    let online = alice.presence().await;
    assert_eq!(keys(&online), with_cause, "{online}");
    assert!(online["last_seen"].is_null(), "{online}");
    bob.close().await;
    let offline = alice.presence().await;
    assert_eq!(keys(&offline), with_cause, "{offline}");
    assert_eq!(offline["online"], false);
    assert_eq!(offline["last_seen"], offline["at"], "an offline event is when the user was last seen: {offline}");
}

#[tokio::test]
async fn reconnect_within_grace_emits_nothing() {
    let s = Server::start_with(Options { grace_secs: 2.0, ..Options::default() }).await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let bob = s.connect("bob", "android").await;
    assert_eq!(alice.presence().await["online"], true);
    // A flapping client: gone and back again well within the grace period.
    bob.close().await;
    let bob = s.connect("bob", "android").await;
    assert!(alice.recv_within(Duration::from_millis(2500)).await.is_none(), "a flap is not an event");
    bob.close().await;
    let ev = alice.recv_within(Duration::from_secs(5)).await.expect("offline after the grace");
    assert_eq!(ev["online"], false);
}

#[tokio::test]
async fn unsubscribe_stops_events_and_ping_pongs() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let (reply, _) = alice.request(json!({"type": "unsubscribe", "user_ids": ["bob"]})).await;
    assert_eq!(reply["type"], "unsubscribed");
    alice.send(json!({"type": "ping"})).await;
    assert_eq!(alice.recv().await, json!({"type": "pong"}));
    let _bob = s.connect("bob", "ios").await;
    assert!(alice.recv_within(Duration::from_millis(500)).await.is_none());
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.send_raw("not json").await;
    let e = alice.recv().await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("bad_frame")));
    alice.send(json!({"type": "teleport", "id": 7})).await;
    let e = alice.recv().await;
    assert_eq!((e["code"].as_str(), e["id"].as_i64()), (Some("bad_frame"), Some(7)));
    let (e, _) = alice.request(json!({"type": "subscribe", "user_ids": ["alice"]})).await;
    assert_eq!(e["code"], "self_subscription");
    let (e, _) = alice.request(json!({"type": "subscribe", "user_ids": ["ghost"]})).await;
    assert_eq!(e["code"], "user_not_found");
    let (e, _) = alice.request(json!({"type": "subscribe", "user_ids": [""]})).await;
    assert_eq!(e["code"], "bad_frame");
    let (e, _) = alice.request(json!({"type": "custom_status", "custom_status": "x".repeat(101)})).await;
    assert_eq!(e["code"], "invalid_argument");
    alice.send(json!({"type": "ping"})).await;
    assert_eq!(alice.recv().await["type"], "pong", "still open");
}

#[tokio::test]
async fn background_and_custom_status_are_pushed() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let mut bob = s.connect("bob", "ios").await;
    alice.presence().await;
    let (ok, _) = bob.request(json!({"type": "background", "background": true})).await;
    assert_eq!(ok["type"], "ok");
    let ev = alice.presence().await;
    assert_eq!((ev["online"].as_bool(), ev["push_online"].as_bool()), (Some(true), Some(true)));
    bob.request(json!({"type": "custom_status", "custom_status": "in a meeting"})).await;
    let ev = alice.presence().await;
    assert_eq!(ev["custom_status"], "in a meeting");
    bob.close().await;
    let ev = alice.presence().await;
    assert_eq!((ev["online"].as_bool(), ev["custom_status"].is_null()), (Some(false), true), "cleared when offline");
}

#[tokio::test]
async fn silent_client_times_out_and_goes_offline() {
    let s = Server::start_with(Options { heartbeat_timeout_secs: 0.5, ..Options::default() }).await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let mut bob = s.connect("bob", "ios").await;
    // Alice keeps pinging; Bob says nothing.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while events.len() < 2 && tokio::time::Instant::now() < deadline {
        alice.send(json!({"type": "ping"})).await;
        while let Some(f) = alice.recv_within(Duration::from_millis(150)).await {
            if f["type"] == "presence" {
                events.push(f);
            }
        }
    }
    assert_eq!(events.len(), 2, "online, then offline after timeout + grace: {events:?}");
    assert_eq!(events[1]["online"], false);
    assert_eq!(events[1]["cause"], "timed_out");
    assert_eq!(bob.closed().await, Some(4001));
}

#[tokio::test]
async fn admin_kick_closes_connections() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let mut bob = s.connect("bob", "ios").await;
    alice.presence().await;
    let (status, body) = s.post("/v1/connections/kick", json!({"user_id": "bob"})).await;
    assert_eq!((status, body["kicked"].as_i64()), (200, Some(1)));
    assert_eq!(bob.closed().await, Some(4000));
    let ev = alice.presence().await;
    assert_eq!((ev["online"].as_bool(), ev["cause"].as_str()), (Some(false), Some("kicked")));
}

#[tokio::test]
async fn upgrade_rejects_bad_tokens_and_platforms() {
    let s = Server::start().await;
    s.register(&["alice"]).await;
    let token = s.token("alice").await;
    for url in [
        format!("{}/v1/ws?token=garbage&platform=web", s.base),
        format!("{}/v1/ws?token={token}&platform=symbian", s.base),
        format!("{}/v1/ws?token={token}", s.base),
        format!("{}/v1/ws?platform=web", s.base),
    ] {
        let r = s.upgrade_request(&url).await;
        assert!(r.status().is_client_error(), "{url}: {}", r.status());
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn frames_larger_than_the_read_buffer_are_read_whole() {
    let s = Server::start().await;
    // 200 IDs of 40 bytes: a subscribe frame of ~9 KiB, many times the connection's read buffer.
    let ids: Vec<String> = (0..200).map(|i| format!("user-with-a-rather-long-identifier-{i:05}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    s.register(&refs).await;
    s.register(&["alice"]).await;
    let mut alice = s.connect("alice", "web").await;
    let reply = alice.subscribe(&refs).await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(reply["presences"].as_array().map(Vec::len), Some(200));
    // The socket still reads small frames after the large one.
    let (pong, _) = alice.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
}

#[tokio::test]
async fn sigterm_stops_the_server_and_its_background_work() {
    let mut s = Server::start().await;
    s.register(&["alice"]).await;
    let _ws = s.connect("alice", "web").await;
    let status = s.terminate(Duration::from_secs(10));
    assert!(status.success(), "clean exit: {status:?}");
}

/// Events enough to fill a stalled connection's socket buffers on loopback (the kernel lets a send buffer grow to
/// 4 MiB), so the server's writes to it block.
const FLOOD: usize = 20_000;

/// A client that stops reading, fed events by `flood` custom-status changes of the user it watches.
async fn stalled_watcher(s: &Server, flood: usize) -> (crate::support::Ws, crate::support::Ws) {
    s.register(&["reader", "chatty"]).await;
    let mut stalled = s.connect_small_window("reader", "web").await;
    stalled.subscribe(&["chatty"]).await;
    let mut chatty = s.connect("chatty", "ios").await;
    // The stalled client reads nothing from here on.
    for i in 0..flood {
        chatty.send(json!({"type": "custom_status", "id": i, "custom_status": format!("{i:0>90}")})).await;
    }
    for _ in 0..flood {
        chatty.recv().await;
    }
    (stalled, chatty)
}

async fn wait_offline(s: &Server, user: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (_, body) = s.post("/v1/presence/query", json!({"user_ids": [user]})).await;
        if body["results"][0]["presence"]["online"] == false {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{user} still online: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_when_its_queue_fills() {
    let config = "[presence]\nsend_queue = 16\nwrite_timeout_secs = 30\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let (stalled, _chatty) = stalled_watcher(&s, 2000).await;
    wait_offline(&s, "reader", Duration::from_secs(5)).await;
    s.wait_dropped(stalled.local_addr(), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_client_whose_writes_stall_is_dropped_after_the_write_timeout() {
    let config = "[presence]\nsend_queue = 100000\nwrite_timeout_secs = 1\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let (stalled, _chatty) = stalled_watcher(&s, FLOOD).await;
    wait_offline(&s, "reader", Duration::from_secs(5)).await;
    s.wait_dropped(stalled.local_addr(), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stalled_client_is_dropped_at_once_when_kicked_and_at_its_heartbeat_deadline() {
    let config = "[presence]\nsend_queue = 100000\nwrite_timeout_secs = 600\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let (stalled, _chatty) = stalled_watcher(&s, FLOOD).await;
    let (status, body) = s.post("/v1/connections/kick", json!({"user_id": "reader"})).await;
    assert_eq!((status, body["kicked"].as_u64()), (200, Some(1)), "{body}");
    s.wait_dropped(stalled.local_addr(), Duration::from_secs(5)).await;

    let s = Server::start_with(Options {
        config_toml: Some(config.into()),
        heartbeat_timeout_secs: 2.0,
        ..Options::default()
    })
    .await;
    let (stalled, mut chatty) = stalled_watcher(&s, FLOOD).await;
    // The writer keeps its own heartbeat alive; the stalled client times out.
    let keep_alive = async {
        loop {
            chatty.request(json!({"type": "ping"})).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::select! {
        _ = keep_alive => {}
        _ = wait_offline(&s, "reader", Duration::from_secs(6)) => {}
    }
    s.wait_dropped(stalled.local_addr(), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_user_beyond_its_connection_limits_loses_its_oldest_connection() {
    let config = "[default_app.limits]\nmax_connections_per_platform = 2\nmax_connections_per_user = 3\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    s.register(&["alice", "watcher"]).await;
    let mut watcher = s.connect("watcher", "web").await;
    watcher.subscribe(&["alice"]).await;
    let mut first = s.connect("alice", "web").await;
    assert_eq!(watcher.presence().await["online"], true);
    let mut second = s.connect("alice", "web").await;
    let _third = s.connect("alice", "web").await;
    assert_eq!(first.closed().await, Some(4000), "the oldest web connection is replaced");
    let (_, body) = s.post("/v1/presence/query", json!({"user_ids": ["alice"]})).await;
    assert_eq!(body["results"][0]["presence"]["details"][0]["connections"], 2, "{body}");

    let _ios = s.connect("alice", "ios").await;
    assert_eq!(watcher.presence().await["platforms"], json!(["ios", "web"]));
    let _android = s.connect("alice", "android").await;
    assert_eq!(second.closed().await, Some(4000), "beyond three in all, the oldest goes");
    assert_eq!(watcher.presence().await["platforms"], json!(["ios", "android", "web"]));
    assert!(watcher.recv_within(Duration::from_millis(500)).await.is_none(), "a replacement is no change of its own");
}
