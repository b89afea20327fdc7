//! Tenant isolation: two apps on one server share nothing, not even when their users have the same IDs.

use std::time::Duration;

use serde_json::json;

use crate::support::{Options, Server};

const ONE: &str = "key-of-app-one-0123456789";
const TWO: &str = "key-of-app-two-0123456789";

#[tokio::test]
async fn two_apps_share_nothing_even_with_the_same_user_ids() {
    let toml =
        format!("[[apps]]\napp_id = \"one\"\napi_key = \"{ONE}\"\n\n[[apps]]\napp_id = \"two\"\napi_key = \"{TWO}\"\n");
    let mut s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;

    s.api_key = ONE.into();
    s.register(&["alice", "bob"]).await;
    let mut bob_in_one = s.connect("bob", "web").await;
    bob_in_one.subscribe(&["alice"]).await;
    let (status, body) = s.post("/v1/follows", json!({"follower": "bob", "followees": ["alice"]})).await;
    assert_eq!(status, 200, "{body}");

    s.api_key = TWO.into();
    s.register(&["alice", "carol"]).await;
    let mut carol_in_two = s.connect("carol", "web").await;
    let reply = carol_in_two.subscribe(&["alice"]).await;
    assert_eq!(reply["presences"][0]["online"], false);

    // Two's alice comes online: two's subscriber hears it, one's does not, and one's alice stays offline.
    let _alice_in_two = s.connect("alice", "ios").await;
    let e = carol_in_two.presence().await;
    assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("alice"), Some(true)), "{e}");
    assert_eq!(bob_in_one.recv_within(Duration::from_millis(500)).await, None);
    s.api_key = ONE.into();
    let (_, body) = s.post("/v1/presence/query", json!({"user_ids": ["alice"]})).await;
    assert_eq!(body["results"][0]["presence"]["online"], false, "{body}");

    // Users, follows and tokens are per app: one's key sees neither two's carol nor two's follows.
    let (status, body) = s.get("/v1/users/carol").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("user_not_found")), "{body}");
    s.api_key = TWO.into();
    let (_, body) = s.post("/v1/follows/counts", json!({"user_ids": ["alice"]})).await;
    assert_eq!(body["results"][0]["fans"], 0, "{body}");
    let one_token = {
        s.api_key = ONE.into();
        s.token("bob").await
    };
    // Deleting one's alice leaves two's alice as it is.
    let (status, body) = s.post("/v1/users/delete", json!({"user_ids": ["alice"]})).await;
    assert_eq!(status, 200, "{body}");
    s.api_key = TWO.into();
    let (status, body) = s.get("/v1/users/alice").await;
    assert_eq!(status, 200, "{body}");
    // A token of app one opens app one's bob; in app two no bob exists to subscribe.
    let mut bob_again = s.connect_with_token(&one_token, "ios").await;
    let (reply, _) = bob_again.request(json!({"type": "subscribe", "user_ids": ["carol"]})).await;
    assert_eq!(reply["code"], "user_not_found", "one's bob cannot reach two's carol: {reply}");
}
