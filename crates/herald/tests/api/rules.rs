//! One rule, every API that exposes the operation: the service owns each rule, so a call made through any dialect
//! is refused or answered for the same reason, each in its own wire format.
//! - The user a call is made by or for must be registered.
//! - Other users a batch names get a result of their own: `UserNotFound` for unregistered ones.
//! - Subscribing to oneself is refused.

use serde_json::{Value, json};

use crate::openim;
use crate::rongcloud::Rc;
use crate::support::Server;
use crate::tencent::Tencent;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_unregistered_subscriber_is_refused_everywhere() {
    let s = Server::start().await;
    s.register(&["target"]).await;
    let admin = openim::admin_token(&s).await;
    let rc = Rc::new(&s);

    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "ghost", "targets": ["target"]})).await;
    assert_eq!((status, code(&body)), (404, "user_not_found"), "native subscribe");
    let (status, body) =
        s.post("/v1/subscriptions/delete", json!({"subscriber": "ghost", "targets": ["target"]})).await;
    assert_eq!((status, code(&body)), (404, "user_not_found"), "native unsubscribe");
    let (status, body) = s.get("/v1/users/ghost/subscriptions").await;
    assert_eq!((status, code(&body)), (404, "user_not_found"), "native list");

    for op_type in ["0&expiry=3600", "1"] {
        let (status, body) =
            rc.post("/user/subscribe/set.json", &format!("userId=ghost&subUserIds=target&opType={op_type}")).await;
        assert_eq!((status, body["code"].as_u64()), (400, Some(26001)), "RongCloud opType={op_type}: {body}");
    }
    let (status, body) = rc.post("/user/subscribe/query.json", "userId=ghost").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(26001)), "RongCloud query: {body}");

    for genre in [1, 2] {
        let r = openim::call(
            &s,
            "/user/subscribe_users_status",
            Some(&admin),
            json!({"userID": "ghost", "userIDs": ["target"], "genre": genre}),
        )
        .await;
        assert_eq!(r["errCode"], 1004, "OpenIM genre {genre}: {r}");
    }
    let r = openim::call(&s, "/user/get_subscribe_users_status", Some(&admin), json!({"userID": "ghost"})).await;
    assert_eq!(r["errCode"], 1004, "OpenIM list: {r}");
}

#[tokio::test]
async fn an_unregistered_target_never_gets_subscribed() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let admin = openim::admin_token(&s).await;
    let rc = Rc::new(&s);

    // Native HTTP reports it per item and subscribes the rest.
    let (_, body) = s.post("/v1/subscriptions", json!({"subscriber": "alice", "targets": ["ghost", "bob"]})).await;
    assert_eq!(body["results"][0]["error"]["code"], "user_not_found");
    assert_eq!(body["subscribed"], json!(["bob"]));
    // The APIs with one answer per call refuse the call and change nothing.
    let mut ws = s.connect("alice", "web").await;
    let (reply, _) = ws.request(json!({"type": "subscribe", "user_ids": ["ghost"]})).await;
    assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("user_not_found")), "{reply}");
    let (status, body) =
        rc.post("/user/subscribe/set.json", "userId=alice&subUserIds=ghost&opType=0&expiry=3600").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(26001)), "{body}");
    let r = openim::call(
        &s,
        "/user/subscribe_users_status",
        Some(&admin),
        json!({"userID": "alice", "userIDs": ["ghost"], "genre": 1}),
    )
    .await;
    assert_eq!(r["errCode"], 1004, "{r}");
    let (_, list) = s.get("/v1/users/alice/subscriptions").await;
    let targets: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(targets, vec!["bob"]);
}

#[tokio::test]
async fn subscribing_to_oneself_is_refused_everywhere() {
    let s = Server::start().await;
    s.register(&["alice"]).await;
    let admin = openim::admin_token(&s).await;
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "alice", "targets": ["alice"]})).await;
    assert_eq!((status, code(&body)), (400, "self_subscription"));
    let mut ws = s.connect("alice", "web").await;
    let (reply, _) = ws.request(json!({"type": "subscribe", "user_ids": ["alice"]})).await;
    assert_eq!(reply["code"], "self_subscription", "{reply}");
    let (status, body) =
        Rc::new(&s).post("/user/subscribe/set.json", "userId=alice&subUserIds=alice&opType=0&expiry=3600").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(26001)), "{body}");
    let r = openim::call(
        &s,
        "/user/subscribe_users_status",
        Some(&admin),
        json!({"userID": "alice", "userIDs": ["alice"], "genre": 1}),
    )
    .await;
    assert_eq!(r["errCode"], 1001, "{r}");
}

#[tokio::test]
async fn follow_reads_and_writes_answer_unregistered_users_per_item() {
    let s = Server::start().await;
    s.register(&["me", "a"]).await;
    let t = Tencent::of(&s);
    s.post("/v1/follows", json!({"follower": "me", "followees": ["a"]})).await;

    let (_, body) = s.post("/v1/follows", json!({"follower": "me", "followees": ["ghost"]})).await;
    assert_eq!(body["results"][0]["error"]["code"], "user_not_found");
    let r = t.call("follow/follow_add", json!({"From_Account": "me", "FollowItem": [{"To_Account": "ghost"}]})).await;
    assert_eq!(r["ResultItem"][0]["ResultCode"], 30003, "{r}");

    let (_, body) = s.post("/v1/follows/delete", json!({"follower": "me", "followees": ["ghost", "a"]})).await;
    assert_eq!(
        (body["results"][0]["error"]["code"].as_str(), &body["results"][1]["removed"]),
        (Some("user_not_found"), &json!(true))
    );
    let r = t.call("follow/follow_delete", json!({"From_Account": "me", "To_Account": ["ghost"]})).await;
    assert_eq!(r["ResultItem"][0]["ResultCode"], 30003, "{r}");

    let (_, body) = s.post("/v1/follows/check", json!({"user_id": "me", "others": ["ghost"]})).await;
    assert_eq!(body["results"][0]["error"]["code"], "user_not_found");
    let r = t.call("follow/follow_check", json!({"From_Account": "me", "To_Account": ["ghost"]})).await;
    assert_eq!(r["ResultItem"][0]["ResultCode"], 30003, "{r}");

    let (_, body) = s.post("/v1/follows/counts", json!({"user_ids": ["ghost"]})).await;
    assert_eq!(body["results"][0]["error"]["code"], "user_not_found");
    let r = t.call("follow/follow_get_info", json!({"From_Account": "me", "To_Account": ["ghost"]})).await;
    assert_eq!(r["FollowInfo"][0]["ResultCode"], 30003, "{r}");

    // The user a follow call is made by must be registered, in every API.
    let (status, body) = s.post("/v1/follows/delete", json!({"follower": "ghost", "followees": ["a"]})).await;
    assert_eq!((status, code(&body)), (404, "user_not_found"));
    for (api, body) in [
        ("follow/follow_add", json!({"From_Account": "ghost", "FollowItem": [{"To_Account": "a"}]})),
        ("follow/follow_delete", json!({"From_Account": "ghost", "To_Account": ["a"]})),
        ("follow/follow_check", json!({"From_Account": "ghost", "To_Account": ["a"]})),
        ("follow/follow_get_info", json!({"From_Account": "ghost", "To_Account": ["a"]})),
        ("follow/follow_get", json!({"From_Account": "ghost", "FollowType": 1})),
    ] {
        let r = t.call(api, body).await;
        assert_eq!((r["ActionStatus"].as_str(), r["ErrorCode"].as_i64()), (Some("FAIL"), Some(30003)), "{api}: {r}");
    }
}

#[tokio::test]
async fn all_or_nothing_registration_creates_nobody_when_one_exists() {
    let s = Server::start().await;
    s.register(&["taken"]).await;
    let admin = openim::admin_token(&s).await;
    let users = json!({"users": [{"userID": "fresh"}, {"userID": "taken"}]});
    let r = openim::call(&s, "/user/user_register", Some(&admin), users).await;
    assert_eq!(r["errCode"], 1102, "{r}");
    let (status, _) = s.get("/v1/users/fresh").await;
    assert_eq!(status, 404, "nobody was created");

    // Decided inside one transaction: of concurrent calls sharing one new ID, exactly one succeeds.
    let calls = (0..16).map(|i| {
        let users = json!({"users": [{"userID": format!("solo{i}")}, {"userID": "shared"}]});
        openim::call(&s, "/user/user_register", Some(&admin), users)
    });
    let answers = futures_util::future::join_all(calls).await;
    let won = answers.iter().filter(|r| r["errCode"] == 0).count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(answers.iter().all(|r| r["errCode"] == 0 || r["errCode"] == 1102), "{answers:?}");
}
