//! Herald's own webhooks: signed, in order per user, retried when the app server fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Options, Server};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

/// A receiver that fails its first call, then records every call it accepts.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (tx, calls) = (tx.clone(), calls.clone());
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let _ = tx.send((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

fn verify(api_key: &str, headers: &HeaderMap, body: &[u8]) {
    let sig = headers["x-herald-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(v1).unwrap()).expect("signature verifies");
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Bytes)>, key: &str) -> Value {
    let (headers, body) =
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("webhook in time").unwrap();
    verify(key, &headers, &body);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(headers["x-herald-event"].to_str().unwrap(), v["type"].as_str().unwrap());
    v
}

#[tokio::test]
async fn presence_and_follow_changes_are_signed_ordered_and_retried() {
    let (url, mut rx) = receiver().await;
    let toml = format!("[default_app.webhooks]\nnative_url = \"{url}\"\n");
    let s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    s.register(&["alice", "bob"]).await;
    let alice = s.connect("alice", "ios").await;
    alice.close().await;
    s.post("/v1/follows", json!({"follower": "bob", "followees": ["alice"]})).await;

    // The first call failed and was retried: nothing is lost, and alice's events keep their order.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut rx, &s.api_key).await);
    }
    let presence: Vec<&Value> = got.iter().filter(|v| v["type"] == "presence.changed").collect();
    assert_eq!(presence.len(), 2);
    assert_eq!((presence[0]["online"].as_bool(), presence[0]["platforms"].clone()), (Some(true), json!(["ios"])));
    assert_eq!(presence[0]["cause"], "connected");
    assert_eq!((presence[1]["online"].as_bool(), presence[1]["cause"].as_str()), (Some(false), Some("disconnected")));
    let follow = got.iter().find(|v| v["type"] == "follow.added").expect("follow event");
    assert_eq!((follow["follower"].as_str(), follow["followees"].clone()), (Some("bob"), json!(["alice"])));
}
