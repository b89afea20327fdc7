//! An acknowledged write survives `kill -9`: writers hammer the real binary, it is killed mid-load, and after a
//! restart on the same data every write that was answered 200 is there.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{Options, Server};
use parking_lot::Mutex;
use serde_json::json;

#[derive(Default)]
struct Acked {
    users: Vec<String>,
    follows: Vec<(String, String)>,
    subscriptions: Vec<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::start().await;
    let base = server.base.clone();
    let key = server.api_key.clone();
    server.register(&["hub"]).await;
    let acked = Arc::new(Mutex::new(Acked::default()));

    let mut writers = Vec::new();
    for w in 0..8 {
        let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            for i in 0.. {
                let user = format!("w{w}-u{i}");
                let post = |path: &str, body: serde_json::Value| {
                    http.post(format!("{base}{path}")).bearer_auth(&key).json(&body).send()
                };
                // Each step is recorded only once the server has acknowledged it.
                match post("/v1/users", json!({"users": [{"user_id": user}]})).await {
                    Ok(r) if r.status() == 200 => acked.lock().users.push(user.clone()),
                    _ => return,
                }
                match post("/v1/follows", json!({"follower": user, "followees": ["hub"]})).await {
                    Ok(r) if r.status() == 200 => acked.lock().follows.push((user.clone(), "hub".into())),
                    _ => return,
                }
                match post("/v1/subscriptions", json!({"subscriber": user, "targets": ["hub"]})).await {
                    Ok(r) if r.status() == 200 => acked.lock().subscriptions.push((user.clone(), "hub".into())),
                    _ => return,
                }
            }
        }));
    }
    // Let the load build up, then kill the server in the middle of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().subscriptions.len() < 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let data_dir = server.keep_data();
    server.kill();
    for w in writers {
        let _ = w.await;
    }
    let acked = std::mem::take(&mut *acked.lock());
    assert!(acked.subscriptions.len() >= 200, "the load ran before the kill");

    let restarted = Server::start_with(Options { data: Some(server.data.clone()), ..Options::default() }).await;
    assert_eq!(restarted.api_key, server.api_key, "credentials are reused after a restart");
    for chunk in acked.users.chunks(500) {
        let (status, body) = restarted.post("/v1/presence/query", json!({"user_ids": chunk})).await;
        assert_eq!(status, 200, "{body}");
        for item in body["results"].as_array().unwrap() {
            assert!(item["presence"].is_object(), "acknowledged user lost: {item}");
        }
    }
    for chunk in acked.follows.chunks(1000) {
        let others: Vec<&str> = chunk.iter().map(|(f, _)| f.as_str()).collect();
        let (status, body) = restarted.post("/v1/follows/check", json!({"user_id": "hub", "others": others})).await;
        assert_eq!(status, 200, "{body}");
        for item in body["results"].as_array().unwrap() {
            assert_eq!(item["follows_me"], true, "acknowledged follow lost: {item}");
        }
    }
    let mut subscribers = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users/hub/subscribers?limit=1000&cursor={c}"),
            None => "/v1/users/hub/subscribers?limit=1000".to_owned(),
        };
        let (status, body) = restarted.get(&path).await;
        assert_eq!(status, 200, "{body}");
        for item in body["items"].as_array().unwrap() {
            subscribers.insert(item["user_id"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for (subscriber, _) in &acked.subscriptions {
        assert!(subscribers.contains(subscriber), "acknowledged subscription lost: {subscriber}");
    }
    drop(data_dir);
}

#[tokio::test]
async fn a_data_folder_serves_one_server_at_a_time() {
    let s = Server::start().await;
    let said = crate::support::refused_start(&s.data);
    assert!(said.contains("another herald is already serving the data folder"), "{said}");
}

#[tokio::test]
async fn credentials_without_their_database_refuse_to_start_empty() {
    let mut s = Server::start().await;
    s.register(&["alice"]).await;
    let tmp = s.keep_data();
    s.kill();
    for leftover in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        let _ = std::fs::remove_file(s.data.join(leftover));
    }
    std::fs::write(s.data.join("herald.db"), b"").unwrap();
    let said = crate::support::refused_start(&s.data);
    assert!(said.contains("is missing or empty: refusing to start without the data"), "{said}");
    drop(tmp);
}
