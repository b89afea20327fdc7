//! The native HTTP API end to end against the real binary: every route, its per-item results and its errors.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::{Options, Server};
use serde_json::{Value, json};

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test]
async fn first_start_writes_private_credentials_and_restart_reuses_them() {
    let mut s = Server::start().await;
    let creds = s.credentials.clone();
    assert!(creds["api_key"].as_str().unwrap().len() >= 32);
    assert_eq!(creds["app_id"], "default");
    assert_eq!(creds["openim"]["admin_user_id"], "imAdmin");
    assert!(creds["openim"]["secret"].is_string());
    assert!(creds["rongcloud"]["app_key"].is_string() && creds["rongcloud"]["app_secret"].is_string());
    assert!(creds["tencent"]["sdkappid"].is_u64());
    assert_eq!(creds["tencent"]["admin_identifier"], "administrator");
    let mode = std::fs::metadata(s.data.join("credentials.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let tmp = s.keep_data();
    s.kill();
    let again = Server::start_with(Options { data: Some(s.data.clone()), ..Options::default() }).await;
    assert_eq!(again.credentials, creds);
    let (status, _) = again.get("/healthz").await;
    assert_eq!(status, 200);
    drop(tmp);
}

#[tokio::test]
async fn requests_need_the_api_key() {
    let s = Server::start().await;
    let r = s.http.post(format!("{}/v1/users", s.base)).json(&json!({"users": []})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "unauthenticated");
    let r = s.http.get(format!("{}/v1/users/a", s.base)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn bad_bodies_get_native_errors() {
    let s = Server::start().await;
    let post_raw = |body: String, ct: &'static str| {
        s.http.post(format!("{}/v1/users", s.base)).bearer_auth(&s.api_key).header("content-type", ct).body(body).send()
    };
    let r = post_raw("{".into(), "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().await.unwrap()), "malformed_json");
    let r = post_raw(r#"{"users":[{"user_id":""}]}"#.into(), "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().await.unwrap()), "invalid_argument");
    let r = post_raw("{}".into(), "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(error_code(&r.json().await.unwrap()), "unsupported_media_type");
    let huge = format!(r#"{{"users":[{{"user_id":"{}"}}]}}"#, "x".repeat(2 * 1024 * 1024));
    // A fresh client: the server answers 413 without reading the body and then closes that connection.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/users", s.base))
        .bearer_auth(&s.api_key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(&r.json().await.unwrap()), "payload_too_large");
    let (status, body) = s.post("/v1/users", json!({"users": []})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    let many: Vec<Value> = (0..1001).map(|i| json!({"user_id": format!("u{i}")})).collect();
    let (status, body) = s.post("/v1/users", json!({"users": many})).await;
    assert_eq!((status, error_code(&body)), (400, "too_many_items"));
    let (status, body) = s.get("/v1/nowhere").await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn users_register_get_and_delete_with_relations() {
    let s = Server::start().await;
    let (status, body) =
        s.post("/v1/users", json!({"users": [{"user_id": "alice", "nickname": "Alice"}, {"user_id": "bob"}]})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"results": [{"user_id": "alice", "created": true}, {"user_id": "bob", "created": true}]}));
    let (_, body) = s.post("/v1/users", json!({"users": [{"user_id": "alice"}]})).await;
    assert_eq!(body["results"][0]["created"], false, "registering again is no error");
    let (status, body) = s.get("/v1/users/alice").await;
    assert_eq!(status, 200);
    assert_eq!((body["user_id"].as_str(), body["nickname"].as_str()), (Some("alice"), Some("Alice")));
    assert!(body["last_seen"].is_null());
    let (status, body) = s.get("/v1/users/nobody").await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));

    s.post("/v1/follows", json!({"follower": "bob", "followees": ["alice"]})).await;
    s.post("/v1/subscriptions", json!({"subscriber": "bob", "targets": ["alice"]})).await;
    let r = s.http.delete(format!("{}/v1/users/alice", s.base)).bearer_auth(&s.api_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, counts) = s.post("/v1/follows/counts", json!({"user_ids": ["bob"]})).await;
    assert_eq!(counts["results"][0]["following"], 0, "deleting a user removes its follows");
    let (_, subs) = s.get("/v1/users/bob/subscriptions").await;
    assert_eq!(subs["items"], json!([]), "and its subscriptions");
    let (status, body) = s.post("/v1/users/delete", json!({"user_ids": ["alice", "bob"]})).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"], json!([{"user_id": "alice", "deleted": false}, {"user_id": "bob", "deleted": true}]));
}

#[tokio::test]
async fn tokens_only_for_registered_users() {
    let s = Server::start().await;
    s.register(&["alice"]).await;
    let (status, body) = s.post("/v1/tokens", json!({"user_id": "alice", "platform": "ios"})).await;
    assert_eq!(status, 200);
    assert!(body["token"].as_str().unwrap().len() > 20);
    assert!(body["expires_at"].as_i64().unwrap() > 0);
    let (status, body) = s.post("/v1/tokens", json!({"user_id": "ghost"})).await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));
    let (status, body) = s.post("/v1/tokens", json!({"user_id": "alice", "platform": "nokia"})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    let (status, body) = s.post("/v1/tokens", json!({"user_id": "alice", "ttl": 0})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    // A token bound to ios cannot open a web connection.
    let token = body_token(&s, "alice", "ios").await;
    let r = s.http.get(format!("{}/v1/ws?token={token}&platform=web", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

async fn body_token(s: &Server, user: &str, platform: &str) -> String {
    let (_, body) = s.post("/v1/tokens", json!({"user_id": user, "platform": platform})).await;
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn presence_query_reports_per_platform_detail_and_unknown_users() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let _web = s.connect("alice", "web").await;
    let _ios = s.connect("alice", "ios").await;
    let (status, body) = s.post("/v1/presence/query", json!({"user_ids": ["alice", "bob", "ghost"]})).await;
    assert_eq!(status, 200);
    let r = &body["results"];
    assert_eq!(r[0]["presence"]["online"], true);
    assert_eq!(r[0]["presence"]["platforms"], json!(["ios", "web"]));
    assert_eq!(
        r[0]["presence"]["details"],
        json!([{"platform": "ios", "background": false, "connections": 1},
               {"platform": "web", "background": false, "connections": 1}])
    );
    assert_eq!(r[1]["presence"]["online"], false);
    assert_eq!(
        r[2],
        json!({"user_id": "ghost", "error": {"code": "user_not_found", "message": "user ghost is not registered"}})
    );
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let (status, body) = s.post("/v1/presence/query", json!({"user_ids": many})).await;
    assert_eq!((status, error_code(&body)), (400, "too_many_items"));
}

#[tokio::test]
async fn server_reported_presence_expires_and_records_last_seen() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let (status, body) =
        s.post("/v1/presence/report", json!({"user_id": "bob", "online": true, "platform": "android", "ttl": 1})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["online"].as_bool(), body["platforms"].clone()), (Some(true), json!(["android"])));
    assert_eq!(alice.presence().await["online"], true);
    let ev = alice.presence().await;
    assert_eq!((ev["online"].as_bool(), ev["cause"].as_str()), (Some(false), Some("timed_out")), "the TTL ran out");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, user) = s.get("/v1/users/bob").await;
        if user["last_seen"].is_i64() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last_seen recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = s.post("/v1/presence/report", json!({"user_id": "bob", "online": true})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    s.post("/v1/presence/report", json!({"user_id": "bob", "online": true, "platform": "ios", "ttl": 60})).await;
    alice.presence().await;
    let (_, body) = s.post("/v1/presence/report", json!({"user_id": "bob", "online": false})).await;
    assert_eq!(body["online"], false);
    assert_eq!(alice.presence().await["online"], false);
}

#[tokio::test]
async fn report_answers_the_presence_after_the_report() {
    let s = Server::start().await;
    s.register(&["bob"]).await;
    let (status, online) =
        s.post("/v1/presence/report", json!({"user_id": "bob", "online": true, "platform": "ios", "ttl": 60})).await;
    assert_eq!(status, 200, "{online}");
    assert_eq!((online["online"].as_bool(), online["platforms"].clone()), (Some(true), json!(["ios"])));
    assert!(online["last_seen"].is_null(), "{online}");
    let went_online = online["at"].as_i64().expect("at");
    assert!(went_online > 1_600_000_000_000, "{online}");

    let (status, offline) = s.post("/v1/presence/report", json!({"user_id": "bob", "online": false})).await;
    assert_eq!(status, 200, "{offline}");
    assert_eq!((offline["online"].as_bool(), offline["platforms"].clone()), (Some(false), json!([])), "{offline}");
    let went_offline = offline["at"].as_i64().expect("at");
    assert!(went_offline >= went_online, "the offline state began with this report: {offline}");
    assert_eq!(offline["last_seen"].as_i64(), Some(went_offline), "last seen when it went offline: {offline}");
    let (_, query) = s.post("/v1/presence/query", json!({"user_ids": ["bob"]})).await;
    assert_eq!(query["results"][0]["presence"], offline, "a query right after reads the same state");

    // A kick is answered once the user's last-seen time is recorded, so a query right after shows it.
    let _ws = s.connect("bob", "web").await;
    let (status, body) = s.post("/v1/connections/kick", json!({"user_id": "bob"})).await;
    assert_eq!((status, body["kicked"].as_i64()), (200, Some(1)), "{body}");
    let (_, query) = s.post("/v1/presence/query", json!({"user_ids": ["bob"]})).await;
    let after_kick = &query["results"][0]["presence"];
    assert_eq!(after_kick["online"], false, "{query}");
    assert!(after_kick["last_seen"].as_i64().unwrap_or(0) > went_offline, "{query}");
    assert_eq!(after_kick["last_seen"], after_kick["at"], "{query}");
}

#[tokio::test]
async fn subscriptions_limits_expiry_and_paging() {
    let toml = "[default_app.limits]\nmax_subscriptions_per_subscriber = 5\nmax_subscribers_per_target = 2\n";
    let s = Server::start_with(Options { config_toml: Some(toml.into()), ..Options::default() }).await;
    s.register(&["s1", "s2", "s3", "t1", "t2", "t3", "t4", "t5", "t6"]).await;
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": ["t1", "t2"]})).await;
    assert_eq!(status, 200);
    assert_eq!(body["subscribed"], json!(["t1", "t2"]));
    assert_eq!(body["targets_at_limit"], json!([]));
    assert_eq!(body["presences"][0]["user_id"], "t1");
    s.post("/v1/subscriptions", json!({"subscriber": "s2", "targets": ["t1"]})).await;
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "s3", "targets": ["t1", "t3"]})).await;
    assert_eq!(status, 200);
    assert_eq!((body["subscribed"].clone(), body["targets_at_limit"].clone()), (json!(["t3"]), json!(["t1"])));
    assert_eq!(
        body["results"],
        json!([
            {"user_id": "t1", "error": {"code": "target_limit",
                "message": "target limit reached: at most 2 live subscribers per user"}},
            {"user_id": "t3", "result": "subscribed"}
        ])
    );
    let (status, body) =
        s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": ["t3", "t4", "t5", "t6"]})).await;
    assert_eq!((status, error_code(&body)), (409, "subscriber_limit"));
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": ["s1"]})).await;
    assert_eq!((status, error_code(&body)), (400, "self_subscription"));
    // Unregistered targets fail only their own item, like the follow routes; an unregistered subscriber fails all.
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "s2", "targets": ["ghost", "t2"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"],
        json!([
            {"user_id": "ghost", "error": {"code": "user_not_found", "message": "user ghost is not registered"}},
            {"user_id": "t2", "result": "subscribed"}
        ])
    );
    assert_eq!(body["subscribed"], json!(["t2"]));
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "ghost", "targets": ["t2"]})).await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));
    s.post("/v1/subscriptions/delete", json!({"subscriber": "s2", "targets": ["t2"]})).await;
    let (status, body) =
        s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": ["t3"], "expiry": -5})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    // A lifetime whose end does not fit the clock is refused, not wrapped into one that ended long ago.
    for expiry in [i64::MAX, 315_360_001] {
        let (status, body) =
            s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": ["t3"], "expiry": expiry})).await;
        assert_eq!((status, error_code(&body)), (400, "invalid_argument"), "{expiry}: {body}");
    }
    let (status, _) =
        s.post("/v1/subscriptions", json!({"subscriber": "s3", "targets": ["t4"], "expiry": 315_360_000})).await;
    assert_eq!(status, 200, "ten years is the longest lifetime");
    s.post("/v1/subscriptions/delete", json!({"subscriber": "s3", "targets": ["t4"]})).await;
    let many: Vec<String> = (0..201).map(|i| format!("u{i}")).collect();
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "s1", "targets": many})).await;
    assert_eq!((status, error_code(&body)), (400, "too_many_items"));

    // Paging both ways.
    let (_, p1) = s.get("/v1/users/s1/subscriptions?limit=1").await;
    assert_eq!(p1["items"][0]["user_id"], "t1");
    assert!(p1["items"][0]["subscribed_at"].is_i64());
    assert!(p1["items"][0]["expiry"].is_null());
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = s.get(&format!("/v1/users/s1/subscriptions?limit=1&cursor={cursor}")).await;
    assert_eq!(p2["items"][0]["user_id"], "t2");
    assert!(p2["next_cursor"].is_null());
    let (_, subs) = s.get("/v1/users/t1/subscribers").await;
    let names: Vec<&str> = subs["items"].as_array().unwrap().iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["s1", "s2"]);
    let (status, body) = s.get("/v1/users/s1/subscriptions?cursor=bogus").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));
    let (status, body) = s.get("/v1/users/s1/subscriptions?limit=0").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"));

    // Expiry: a one-second subscription neither lists nor counts once expired.
    let (status, _) = s.post("/v1/subscriptions", json!({"subscriber": "s2", "targets": ["t4"], "expiry": 1})).await;
    assert_eq!(status, 200);
    let (_, live) = s.get("/v1/users/s2/subscriptions").await;
    assert_eq!(live["items"].as_array().unwrap().len(), 2);
    assert!(live["items"][1]["expires_at"].is_i64());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, live) = s.get("/v1/users/s2/subscriptions").await;
    assert_eq!(live["items"].as_array().unwrap().len(), 1, "expired subscription is gone: {live}");

    let (status, body) =
        s.post("/v1/subscriptions/delete", json!({"subscriber": "s1", "targets": ["t1", "t6", "ghost"]})).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({
                "results": [
                    {"user_id": "t1", "removed": true},
                    {"user_id": "t6", "removed": false},
                    {"user_id": "ghost", "error": {"code": "user_not_found", "message": "user ghost is not registered"}}
                ],
                "removed": ["t1"]
            })
        )
    );
    let (status, body) = s.post("/v1/subscriptions/delete", json!({"subscriber": "ghost", "targets": ["t1"]})).await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));
}

#[tokio::test]
async fn expired_subscription_receives_no_events() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    let (reply, _) = alice.request(json!({"type": "subscribe", "user_ids": ["bob"], "expiry": 1})).await;
    assert_eq!(reply["type"], "subscribed");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let _bob = s.connect("bob", "ios").await;
    assert!(alice.recv_within(Duration::from_millis(700)).await.is_none());
}

#[tokio::test]
async fn follows_check_counts_and_cursor_pages() {
    let toml = "[default_app.limits]\nmax_following = 3\n";
    let s = Server::start_with(Options { config_toml: Some(toml.into()), ..Options::default() }).await;
    s.register(&["me", "a", "b", "c", "d"]).await;
    let (status, body) =
        s.post("/v1/follows", json!({"follower": "me", "followees": ["a", "b", "me", "ghost", "a"]})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["results"],
        json!([
            {"user_id": "a", "result": "followed"},
            {"user_id": "b", "result": "followed"},
            {"user_id": "me", "error": {"code": "self_follow", "message": "a user cannot follow itself"}},
            {"user_id": "ghost", "error": {"code": "user_not_found", "message": "user ghost is not registered"}},
            {"user_id": "a", "result": "already_following"},
        ])
    );
    let (_, body) = s.post("/v1/follows", json!({"follower": "me", "followees": ["c", "d"]})).await;
    assert_eq!(body["results"][0]["result"], "followed");
    assert_eq!(body["results"][1]["error"]["code"], "following_limit");
    for fan in ["a", "b", "d"] {
        s.post("/v1/follows", json!({"follower": fan, "followees": ["me"]})).await;
    }
    let (_, body) = s.post("/v1/follows/check", json!({"user_id": "me", "others": ["a", "c", "d", "ghost"]})).await;
    let relations: Vec<&str> =
        body["results"].as_array().unwrap()[..3].iter().map(|r| r["relation"].as_str().unwrap()).collect();
    assert_eq!(relations, vec!["mutual", "i_follow", "follows_me"]);
    let ghost =
        json!({"user_id": "ghost", "error": {"code": "user_not_found", "message": "user ghost is not registered"}});
    assert_eq!(body["results"][3], ghost, "an unregistered user is an error of its own item, as everywhere");
    let (status, body) = s.post("/v1/follows/check", json!({"user_id": "ghost", "others": ["a"]})).await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));
    let (_, body) = s.post("/v1/follows/counts", json!({"user_ids": ["me", "ghost"]})).await;
    assert_eq!(body["results"][0], json!({"user_id": "me", "fans": 3, "following": 3, "mutual": 2}));
    assert_eq!(body["results"][1], ghost);

    let (_, p1) = s.get("/v1/users/me/fans?limit=2").await;
    let (_, p2) = s.get(&format!("/v1/users/me/fans?limit=2&cursor={}", p1["next_cursor"].as_str().unwrap())).await;
    let fans: Vec<&str> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|i| i["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(fans, vec!["d", "b", "a"], "newest first");
    assert!(p2["next_cursor"].is_null());
    let (_, mutual) = s.get("/v1/users/me/mutual").await;
    assert_eq!(mutual["items"].as_array().unwrap().len(), 2);
    let (_, following) = s.get("/v1/users/me/following").await;
    assert_eq!(following["items"].as_array().unwrap().len(), 3);

    let (status, body) =
        s.post("/v1/follows/delete", json!({"follower": "me", "followees": ["a", "d", "ghost"]})).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"], json!([{"user_id": "a", "removed": true}, {"user_id": "d", "removed": false}, ghost]));
    let (status, body) = s.get("/v1/users/ghost/fans").await;
    assert_eq!((status, error_code(&body)), (404, "user_not_found"));
}

#[tokio::test]
async fn wrong_methods_and_unreadable_paths_answer_in_the_native_format() {
    let s = Server::start().await;
    for (method, path) in
        [("PUT", "/v1/users"), ("GET", "/v1/presence/query"), ("POST", "/v1/ws"), ("DELETE", "/healthz")]
    {
        let r = s
            .http
            .request(method.parse().unwrap(), format!("{}{path}", s.base))
            .bearer_auth(&s.api_key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!((status, error_code(&body)), (405, "method_not_allowed"), "{method} {path}: {body}");
        assert!(allow.is_some(), "{method} {path}: the Allow header names the methods there are");
    }
    let (status, body) = s.get("/v1/users/%FF%FE").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"), "{body}");
}

#[tokio::test]
async fn a_gateway_request_that_is_not_a_websocket_handshake_gets_a_native_error() {
    let s = Server::start().await;
    s.register(&["alice"]).await;
    let token = s.token("alice").await;
    let r = s.http.get(format!("{}/v1/ws?token={token}&platform=ios", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "invalid_argument", "{body}");
}
