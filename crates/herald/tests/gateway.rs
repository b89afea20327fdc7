//! The WebSocket gateway end to end: presence from connections, subscriptions over the socket, pushes, flap
//! damping, heartbeats, kicks and bad frames.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Options, Server};

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
        let r = s
            .http
            .get(&url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
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
