//! The OpenIM-compatible API end to end, through a real HTTP client against the real binary: whole response
//! bodies (field names, types, `null` vs `[]`, absent `data`), every token failure code, permissions, and a
//! subscription made here delivering WebSocket events to a client holding an OpenIM user token.

use std::time::Duration;

use crate::support::{Options, Server};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

const ADMIN: &str = "imAdmin";
/// Upstream's default token lifetime, 90 days.
const LIFETIME: i64 = 90 * 24 * 3600;

/// One OpenIM call: POST with `operationID` and, when given, `token`; HTTP 200 is part of the contract.
pub(crate) async fn call(s: &Server, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = s.http.post(format!("{}{path}", s.base)).header("operationID", "op-1").json(&body);
    if let Some(token) = token {
        req = req.header("token", token);
    }
    let r = req.send().await.expect("request");
    assert_eq!(r.status().as_u16(), 200, "{path}: OpenIM answers HTTP 200 always");
    assert_eq!(r.headers().get("operationID").and_then(|v| v.to_str().ok()), Some("op-1"), "operationID echoed");
    r.json().await.expect("JSON body")
}

fn secret(s: &Server) -> String {
    s.credentials["openim"]["secret"].as_str().expect("OpenIM secret in credentials.json").to_owned()
}

fn ok(data: Value) -> Value {
    json!({"errCode": 0, "errMsg": "", "errDlt": "", "data": data})
}

fn ok_empty() -> Value {
    json!({"errCode": 0, "errMsg": "", "errDlt": ""})
}

fn err(code: u32, name: &str, detail: &str) -> Value {
    json!({"errCode": code, "errMsg": name, "errDlt": format!("{detail}: [{code}]{name}")})
}

pub(crate) async fn admin_token(s: &Server) -> String {
    let r = call(s, "/auth/get_admin_token", None, json!({"secret": secret(s), "userID": ADMIN})).await;
    r["data"]["token"].as_str().unwrap_or_else(|| panic!("admin token: {r}")).to_owned()
}

pub(crate) async fn user_token(s: &Server, admin: &str, user: &str, platform: i64) -> String {
    let r = call(s, "/auth/get_user_token", Some(admin), json!({"platformID": platform, "userID": user})).await;
    r["data"]["token"].as_str().unwrap_or_else(|| panic!("user token: {r}")).to_owned()
}

async fn register(s: &Server, admin: &str, ids: &[&str]) {
    let users: Vec<Value> = ids.iter().map(|id| json!({"userID": id, "nickname": "", "faceURL": ""})).collect();
    assert_eq!(call(s, "/user/user_register", Some(admin), json!({ "users": users })).await, ok_empty());
}

/// Sign arbitrary claims, for tokens the server never issued.
fn craft(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn headers_are_enforced_and_errors_use_the_envelope() {
    let s = Server::start().await;
    let url = format!("{}/user/get_users_status", s.base);
    let r = s.http.post(&url).header("token", "x").body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, err(1001, "ArgsError", "header must have operationID"));

    assert_eq!(
        call(&s, "/user/get_users_status", None, json!({"userIDs": ["a"]})).await,
        err(1001, "ArgsError", "header must have token")
    );
    // The token-free routes need no token; a bad body is an ArgsError there too.
    let r = s
        .http
        .post(format!("{}/auth/parse_token", s.base))
        .header("operationID", "op-1")
        .body("not json")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["errCode"].as_i64(), body["errMsg"].as_str()), (Some(1001), Some("ArgsError")), "{body}");
    assert!(body.get("data").is_none(), "no data on error: {body}");

    // A body without a JSON content type is still read, as upstream does.
    let admin = admin_token(&s).await;
    let r = s
        .http
        .post(format!("{}/user/account_check", s.base))
        .header("operationID", "op-2")
        .header("token", &admin)
        .body(r#"{"checkUserIDs":["nobody"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("operationID").unwrap(), "op-2");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, ok(json!({"results": [{"userID": "nobody", "accountStatus": 0}]})));
}

#[tokio::test]
async fn admin_and_user_tokens_carry_upstream_claims() {
    let s = Server::start().await;
    let secret = secret(&s);
    assert_eq!(
        call(&s, "/auth/get_admin_token", None, json!({"secret": "wrong", "userID": ADMIN})).await,
        err(1002, "NoPermissionError", "secret invalid")
    );
    assert_eq!(
        call(&s, "/auth/get_admin_token", None, json!({"secret": secret, "userID": "alice"})).await,
        err(1001, "ArgsError", "userID \"alice\" is not an admin user ID of the app")
    );
    let r = call(&s, "/auth/get_admin_token", None, json!({"secret": secret, "userID": ADMIN})).await;
    let admin = r["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r, ok(json!({"token": admin, "expireTimeSeconds": LIFETIME})));

    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Value>(&admin, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .expect("signed with the OpenIM secret")
        .claims;
    assert_eq!((claims["UserID"].as_str(), claims["PlatformID"].as_i64()), (Some(ADMIN), Some(10)));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), LIFETIME);

    register(&s, &admin, &["alice"]).await;
    let r = call(&s, "/auth/get_user_token", Some(&admin), json!({"platformID": 5, "userID": "alice"})).await;
    let alice = r["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r, ok(json!({"token": alice, "expireTimeSeconds": LIFETIME})));
    let claims: Value =
        jsonwebtoken::decode(&alice, &DecodingKey::from_secret(secret.as_bytes()), &validation).unwrap().claims;
    assert_eq!((claims["UserID"].as_str(), claims["PlatformID"].as_i64()), (Some("alice"), Some(5)));

    let parsed = call(&s, "/auth/parse_token", None, json!({"token": alice})).await;
    assert_eq!(parsed, ok(json!({"userID": "alice", "platformID": 5, "expireTimeSeconds": claims["exp"]})));

    // get_user_token's own failures.
    let cases = [
        (
            json!({"platformID": 10, "userID": "alice"}),
            err(1002, "NoPermissionError", "platformID invalid. platformID must not be adminPlatformID"),
        ),
        (json!({"platformID": 5, "userID": ADMIN}), err(1002, "NoPermissionError", "don't get Admin token")),
        (
            json!({"platformID": 12, "userID": "alice"}),
            err(1001, "ArgsError", "platformID 12 is invalid; expected 1..9 or 11"),
        ),
        (json!({"platformID": 5, "userID": ""}), err(1001, "ArgsError", "userID is empty")),
        (
            json!({"platformID": 5, "userID": "ghost"}),
            err(1004, "RecordNotFoundError", "userID ghost is not registered"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(call(&s, "/auth/get_user_token", Some(&admin), body.clone()).await, expected, "{body}");
    }
    assert_eq!(
        call(&s, "/auth/get_user_token", Some(&alice), json!({"platformID": 5, "userID": "alice"})).await,
        err(1002, "NoPermissionError", "user alice is not an app manager")
    );
}

#[tokio::test]
async fn every_token_failure_has_its_own_code() {
    let s = Server::start().await;
    let secret = secret(&s);
    let admin = admin_token(&s).await;
    register(&s, &admin, &["alice"]).await;
    let t = now();
    let expired =
        craft(&secret, json!({"UserID": "alice", "PlatformID": 5, "exp": t - 10, "nbf": t - 100, "iat": t - 100}));
    let bad_signature = craft("not-the-secret", json!({"UserID": "alice", "PlatformID": 5, "exp": t + 3600, "iat": t}));
    let not_yet =
        craft(&secret, json!({"UserID": "alice", "PlatformID": 5, "exp": t + 7200, "nbf": t + 3600, "iat": t}));
    let never_issued =
        craft(&secret, json!({"UserID": "alice", "PlatformID": 5, "exp": t + 3600, "nbf": t - 10, "iat": t}));
    let first = user_token(&s, &admin, "alice", 2).await;
    let other_platform = user_token(&s, &admin, "alice", 5).await;
    let second = user_token(&s, &admin, "alice", 2).await;

    let cases = [
        (expired.as_str(), err(1501, "TokenExpiredError", "token is expired")),
        (bad_signature.as_str(), err(1502, "TokenInvalidError", "token signature is invalid")),
        (not_yet.as_str(), err(1504, "TokenNotValidYetError", "token is not valid yet")),
        (never_issued.as_str(), err(1507, "TokenNotExistError", "token was not issued by this server")),
        (first.as_str(), err(1506, "TokenKickedError", "token was kicked by a newer login or a forced logout")),
    ];
    let query = json!({"userIDs": ["alice"]});
    for (token, expected) in &cases {
        assert_eq!(&call(&s, "/user/get_users_status", Some(token), query.clone()).await, expected);
        assert_eq!(&call(&s, "/auth/parse_token", None, json!({"token": token})).await, expected);
    }
    // Malformed: the detail quotes the parser, so compare everything else.
    for garbage in ["garbage", "a.b.c", ""] {
        let r = call(&s, "/auth/parse_token", None, json!({"token": garbage})).await;
        assert_eq!((r["errCode"].as_i64(), r["errMsg"].as_str()), (Some(1503), Some("TokenMalformedError")), "{r}");
        assert!(r["errDlt"].as_str().unwrap().ends_with(": [1503]TokenMalformedError"), "{r}");
        assert!(r.get("data").is_none());
    }
    let r = call(&s, "/user/get_users_status", Some("garbage"), query.clone()).await;
    assert_eq!(r["errCode"], 1503, "{r}");

    // The newer token on the platform, and the token of another platform, still work.
    let online = ok(json!({"statusList": [{"userID": "alice", "status": 0, "platformIDs": null}]}));
    assert_eq!(call(&s, "/user/get_users_status", Some(&second), query.clone()).await, online);
    assert_eq!(call(&s, "/user/get_users_status", Some(&other_platform), query.clone()).await, online);
}

#[tokio::test]
async fn register_info_and_account_check() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    let users = json!({"users": [
        {"userID": "u1", "nickname": "One", "faceURL": "https://x/1.png", "ex": "ignored"},
        {"userID": "u2", "nickname": "Two", "faceURL": ""},
    ]});
    assert_eq!(call(&s, "/user/user_register", Some(&admin), users.clone()).await, ok_empty());
    assert_eq!(
        call(&s, "/user/user_register", Some(&admin), users).await,
        err(1102, "RegisteredAlreadyError", "userID u1 registered already")
    );
    let cases = [
        (json!({"users": []}), err(1001, "ArgsError", "users is empty")),
        (json!({"users": null}), err(1001, "ArgsError", "users is empty")),
        (json!({"users": [{"userID": "d"}, {"userID": "d"}]}), err(1001, "ArgsError", "userID d repeated")),
        (
            json!({"users": [{"userID": "a:b"}]}),
            err(1001, "ArgsError", "userID \"a:b\" contains ':', which is invalid"),
        ),
        (json!({"users": [{"userID": ""}]}), err(1001, "ArgsError", "userID is empty")),
    ];
    for (body, expected) in cases {
        assert_eq!(call(&s, "/user/user_register", Some(&admin), body.clone()).await, expected, "{body}");
    }
    let u1 = user_token(&s, &admin, "u1", 1).await;
    assert_eq!(
        call(&s, "/user/user_register", Some(&u1), json!({"users": [{"userID": "u3"}]})).await,
        err(1002, "NoPermissionError", "user u1 is not an app manager")
    );

    // Any valid token reads profiles, in request order.
    let r = call(&s, "/user/get_users_info", Some(&u1), json!({"userIDs": ["u2", "u1"]})).await;
    let created = |i: usize| r["data"]["usersInfo"][i]["createTime"].as_i64().expect("createTime is a number");
    assert!(created(0) > 1_600_000_000_000, "milliseconds: {r}");
    let info = |id: &str, nick: &str, face: &str, at: i64| {
        json!({
            "userID": id, "nickname": nick, "faceURL": face, "ex": "",
            "createTime": at, "appMangerLevel": 0, "globalRecvMsgOpt": 0,
        })
    };
    assert_eq!(
        r,
        ok(json!({"usersInfo": [info("u2", "Two", "", created(0)), info("u1", "One", "https://x/1.png", created(1))]}))
    );
    assert_eq!(
        call(&s, "/user/get_users_info", Some(&u1), json!({"userIDs": ["u1", "ghost"]})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered")
    );
    assert_eq!(
        call(&s, "/user/get_users_info", Some(&u1), json!({"userIDs": []})).await,
        err(1001, "ArgsError", "userIDs is empty")
    );

    assert_eq!(
        call(&s, "/user/account_check", Some(&admin), json!({"checkUserIDs": ["u1", "nope"]})).await,
        ok(json!({"results": [{"userID": "u1", "accountStatus": 1}, {"userID": "nope", "accountStatus": 0}]}))
    );
    assert_eq!(
        call(&s, "/user/account_check", Some(&u1), json!({"checkUserIDs": ["u1"]})).await,
        err(1002, "NoPermissionError", "user u1 is not an app manager")
    );
}

#[tokio::test]
async fn subscribe_users_status_follows_the_seed() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    register(&s, &admin, &["9168684795", "7475779354", "6317136453", "8450535746"]).await;
    // 8450535746 is online on Android through an OpenIM user token (the platform comes from the token).
    let token = user_token(&s, &admin, "8450535746", 2).await;
    let _android = s.connect_with_query(&format!("token={token}")).await;

    let request = json!({"userID": "9168684795", "userIDs": ["7475779354", "6317136453", "8450535746"], "genre": 1});
    let expected = ok(json!({"statusList": [
        {"userID": "7475779354", "status": 0, "platformIDs": null},
        {"userID": "6317136453", "status": 0, "platformIDs": null},
        {"userID": "8450535746", "status": 1, "platformIDs": [2]},
    ]}));
    assert_eq!(call(&s, "/user/subscribe_users_status", Some(&admin), request).await, expected);
    // Listed oldest subscription first; those made in one call, by user ID.
    let mut listed = call(&s, "/user/get_subscribe_users_status", Some(&admin), json!({"userID": "9168684795"})).await;
    let mut expected = expected;
    for body in [&mut listed, &mut expected] {
        body["data"]["statusList"].as_array_mut().unwrap().sort_by_key(|st| st["userID"].as_str().unwrap().to_owned());
    }
    assert_eq!(listed, expected);

    // Stored in the same subscriptions as the native API's, without expiry.
    let (status, native) = s.get("/v1/users/9168684795/subscriptions").await;
    assert_eq!(status, 200, "{native}");
    assert_eq!(native["items"].as_array().map(Vec::len), Some(3), "{native}");
    assert!(native["items"].as_array().unwrap().iter().all(|i| i["expiry"].is_null() && i["expires_at"].is_null()));

    let cancel = json!({"userID": "9168684795", "userIDs": ["7475779354", "6317136453", "8450535746"], "genre": 2});
    assert_eq!(call(&s, "/user/subscribe_users_status", Some(&admin), cancel).await, ok(json!({"statusList": null})));
    assert_eq!(
        call(&s, "/user/get_subscribe_users_status", Some(&admin), json!({"userID": "9168684795"})).await,
        ok(json!({"statusList": null}))
    );
}

#[tokio::test]
async fn status_calls_validate_and_check_permissions() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    register(&s, &admin, &["alice", "bob", "carol"]).await;
    let alice = user_token(&s, &admin, "alice", 5).await;
    let sub = "/user/subscribe_users_status";
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let cases = [
        (
            json!({"userID": "alice", "userIDs": ["bob", "ghost"], "genre": 1}),
            err(1004, "RecordNotFoundError", "userID ghost is not registered"),
        ),
        (
            json!({"userID": "alice", "userIDs": ["bob"], "genre": 3}),
            err(1001, "ArgsError", "genre 3 is invalid; expected 1 (subscribe) or 2 (unsubscribe)"),
        ),
        (
            json!({"userID": "alice", "userIDs": ["bob"]}),
            err(1001, "ArgsError", "genre 0 is invalid; expected 1 (subscribe) or 2 (unsubscribe)"),
        ),
        (json!({"userID": "alice", "userIDs": [], "genre": 1}), err(1001, "ArgsError", "userIDs is empty")),
        (json!({"userID": "alice", "genre": 1}), err(1001, "ArgsError", "userIDs is empty")),
        (json!({"userID": "", "userIDs": ["bob"], "genre": 1}), err(1001, "ArgsError", "userID is empty")),
        (
            json!({"userID": "alice", "userIDs": too_many, "genre": 1}),
            err(1001, "ArgsError", "userIDs holds 501 IDs; at most 500 per call"),
        ),
        (
            json!({"userID": "alice", "userIDs": ["alice"], "genre": 1}),
            err(1001, "ArgsError", "a user cannot subscribe to itself"),
        ),
        (
            json!({"userID": "bob", "userIDs": ["carol"], "genre": 1}),
            err(1002, "NoPermissionError", "user alice cannot act for user bob"),
        ),
        (json!({"userID": "alice", "userIDs": ["bob"], "genre": "1"}), Value::Null),
    ];
    for (body, expected) in cases {
        let r = call(&s, sub, Some(&alice), body.clone()).await;
        if expected.is_null() {
            assert_eq!((r["errCode"].as_i64(), r.get("data")), (Some(1001), None), "{body}: {r}");
        } else {
            assert_eq!(r, expected, "{body}");
        }
    }
    assert_eq!(
        call(&s, sub, Some(&admin), json!({"userID": "ghost", "userIDs": ["bob"], "genre": 1})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered"),
        "an unregistered subscriber, like the seed's failure example"
    );
    assert_eq!(
        call(&s, sub, Some(&admin), json!({"userID": "ghost", "userIDs": ["bob"], "genre": 2})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered")
    );
    // A user token acts for itself; an admin token for anyone.
    let mine = call(&s, sub, Some(&alice), json!({"userID": "alice", "userIDs": ["bob"], "genre": 1})).await;
    assert_eq!(mine, ok(json!({"statusList": [{"userID": "bob", "status": 0, "platformIDs": null}]})));
    let theirs = call(&s, sub, Some(&admin), json!({"userID": "bob", "userIDs": ["carol", "carol"], "genre": 1})).await;
    assert_eq!(theirs, ok(json!({"statusList": [{"userID": "carol", "status": 0, "platformIDs": null}]})));
    assert_eq!(
        call(&s, "/user/get_subscribe_users_status", Some(&alice), json!({"userID": "bob"})).await,
        err(1002, "NoPermissionError", "user alice cannot act for user bob")
    );
    assert_eq!(
        call(&s, "/user/get_subscribe_users_status", Some(&admin), json!({"userID": "ghost"})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered")
    );

    let gs = "/user/get_users_status";
    assert_eq!(
        call(&s, gs, Some(&alice), json!({"userID": "alice", "userIDs": []})).await,
        err(1001, "ArgsError", "userIDs is empty")
    );
    assert_eq!(
        call(&s, gs, Some(&alice), json!({"userID": "alice", "userIDs": ["bob", "nobody"]})).await,
        err(1004, "RecordNotFoundError", "userID nobody is not registered")
    );
    assert_eq!(
        call(&s, gs, Some(&alice), json!({"userID": "bob", "userIDs": ["carol"]})).await,
        err(1002, "NoPermissionError", "user alice cannot act for user bob")
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    assert_eq!(
        call(&s, gs, Some(&admin), json!({"userIDs": too_many})).await,
        err(1001, "ArgsError", "userIDs holds 501 IDs; at most 500 per call")
    );
}

#[tokio::test]
async fn users_status_and_sessions() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    register(&s, &admin, &["alice", "bob"]).await;
    let web = user_token(&s, &admin, "bob", 5).await;
    let ios = user_token(&s, &admin, "bob", 1).await;
    let _bob_web = s.connect_with_query(&format!("token={web}")).await;
    let _bob_ios = s.connect_with_query(&format!("token={ios}&background=true")).await;

    let alice = user_token(&s, &admin, "alice", 3).await;
    assert_eq!(
        call(&s, "/user/get_users_status", Some(&alice), json!({"userID": "alice", "userIDs": ["bob", "alice"]})).await,
        ok(json!({"statusList": [
            {"userID": "bob", "status": 1, "platformIDs": [1, 5]},
            {"userID": "alice", "status": 0, "platformIDs": null},
        ]}))
    );

    let r = call(&s, "/user/get_users_online_status", Some(&admin), json!({"userIDs": ["bob", "alice"]})).await;
    let conn = |i: usize| r["data"][0]["detailPlatformStatus"][i]["connID"].as_str().expect("connID").to_owned();
    assert!(!conn(0).is_empty() && conn(0) != conn(1), "{r}");
    assert_eq!(
        r,
        ok(json!([
            {"userID": "bob", "status": 1, "detailPlatformStatus": [
                {"platformID": 1, "connID": conn(0), "isBackground": true, "token": ""},
                {"platformID": 5, "connID": conn(1), "isBackground": false, "token": ""},
            ]},
            {"userID": "alice", "status": 0, "detailPlatformStatus": null},
        ]))
    );
    assert_eq!(
        call(&s, "/user/get_users_online_status", Some(&alice), json!({"userIDs": ["bob"]})).await,
        err(1002, "NoPermissionError", "only app manager")
    );
    assert_eq!(
        call(&s, "/user/get_users_online_status", Some(&admin), json!({"userIDs": ["ghost"]})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered")
    );
}

#[tokio::test]
async fn a_subscription_made_here_pushes_over_the_websocket() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    register(&s, &admin, &["alice", "bob"]).await;
    let alice_token = user_token(&s, &admin, "alice", 5).await;
    let mut alice = s.connect_with_query(&format!("token={alice_token}")).await;
    let r = call(
        &s,
        "/user/subscribe_users_status",
        Some(&alice_token),
        json!({"userID": "alice", "userIDs": ["bob"], "genre": 1}),
    )
    .await;
    assert_eq!(r["errCode"], 0, "{r}");

    let bob_token = user_token(&s, &admin, "bob", 2).await;
    let bob = s.connect_with_query(&format!("token={bob_token}")).await;
    let ev = alice.presence().await;
    assert_eq!((ev["user_id"].as_str(), ev["online"].as_bool()), (Some("bob"), Some(true)), "{ev}");
    assert_eq!(ev["platforms"], json!(["android"]));
    bob.close().await;
    let ev = alice.presence().await;
    assert_eq!((ev["user_id"].as_str(), ev["online"].as_bool()), (Some("bob"), Some(false)), "{ev}");

    // Unsubscribing here stops the events.
    let r = call(
        &s,
        "/user/subscribe_users_status",
        Some(&alice_token),
        json!({"userID": "alice", "userIDs": ["bob"], "genre": 2}),
    )
    .await;
    assert_eq!(r, ok(json!({"statusList": null})));
    let _bob = s.connect_with_query(&format!("token={bob_token}")).await;
    assert!(alice.recv_within(Duration::from_millis(500)).await.is_none(), "no events after unsubscribing");
}

#[tokio::test]
async fn force_logout_closes_the_platform_and_kicks_its_tokens() {
    let s = Server::start().await;
    let admin = admin_token(&s).await;
    register(&s, &admin, &["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let android = user_token(&s, &admin, "bob", 2).await;
    let web = user_token(&s, &admin, "bob", 5).await;
    let mut bob_android = s.connect_with_query(&format!("token={android}")).await;
    let _bob_web = s.connect_with_query(&format!("token={web}")).await;
    assert_eq!(alice.presence().await["platforms"], json!(["android"]));
    assert_eq!(alice.presence().await["platforms"], json!(["android", "web"]));

    let bob_self = call(&s, "/auth/force_logout", Some(&web), json!({"platformID": 2, "userID": "bob"})).await;
    assert_eq!(bob_self, err(1002, "NoPermissionError", "user bob is not an app manager"));
    assert_eq!(
        call(&s, "/auth/force_logout", Some(&admin), json!({"platformID": 10, "userID": "bob"})).await,
        err(1001, "ArgsError", "platformID 10 is invalid; expected 1..9 or 11")
    );
    assert_eq!(
        call(&s, "/auth/force_logout", Some(&admin), json!({"platformID": 2, "userID": "ghost"})).await,
        err(1004, "RecordNotFoundError", "userID ghost is not registered")
    );
    assert_eq!(
        call(&s, "/auth/force_logout", Some(&admin), json!({"platformID": 2, "userID": "bob"})).await,
        ok_empty()
    );
    assert_eq!(bob_android.closed().await, Some(4000));
    assert_eq!(alice.presence().await["platforms"], json!(["web"]));
    assert_eq!(
        call(&s, "/auth/parse_token", None, json!({"token": android})).await,
        err(1506, "TokenKickedError", "token was kicked by a newer login or a forced logout")
    );
    assert_eq!(call(&s, "/auth/parse_token", None, json!({"token": web})).await["errCode"], 0, "other platforms stay");

    // A kicked token no longer opens the gateway; an admin token never does.
    for token in [&android, &admin] {
        let url = format!("{}/v1/ws?token={token}", s.base);
        let r = s.upgrade_request(&url).await;
        assert_eq!(r.status().as_u16(), 401);
    }
}

#[tokio::test]
async fn each_app_is_found_by_its_secret_and_sees_only_its_users() {
    let config = r#"
[[apps]]
app_id = "one"
api_key = "key-one"
openim = { secret = "secret-one", admin_user_id = "imAdmin" }

[[apps]]
app_id = "two"
api_key = "key-two"
openim = { secret = "secret-two", admin_user_id = "boss" }
"#;
    let s = Server::start_with(Options { config_toml: Some(config.to_owned()), ..Options::default() }).await;
    let get = |secret: &'static str, user: &'static str| {
        let s = &s;
        async move {
            let r = call(s, "/auth/get_admin_token", None, json!({"secret": secret, "userID": user})).await;
            r["data"]["token"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned()
        }
    };
    let one = get("secret-one", "imAdmin").await;
    let two = get("secret-two", "boss").await;
    assert_eq!(
        call(&s, "/auth/get_admin_token", None, json!({"secret": "secret-two", "userID": "imAdmin"})).await["errCode"],
        1001
    );
    register(&s, &one, &["alice"]).await;
    assert_eq!(
        call(&s, "/user/get_users_status", Some(&two), json!({"userIDs": ["alice"]})).await,
        err(1004, "RecordNotFoundError", "userID alice is not registered")
    );
    register(&s, &two, &["alice"]).await;
    let alice_two = user_token(&s, &two, "alice", 5).await;
    let parsed = call(&s, "/auth/parse_token", None, json!({"token": alice_two})).await;
    assert_eq!(parsed["data"]["userID"], "alice");
    // App two's user token acts in app two.
    assert_eq!(call(&s, "/user/get_users_status", Some(&alice_two), json!({"userIDs": ["alice"]})).await["errCode"], 0);
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_answer_in_the_envelope() {
    let s = Server::start().await;
    let cases = [
        ("GET", "/auth/get_admin_token", "this route only serves POST, not GET"),
        ("PUT", "/user/get_users_status", "this route only serves POST, not PUT"),
        ("POST", "/auth/no_such_call", "no such route: /auth/no_such_call"),
        ("POST", "/user/no_such_call", "no such route: /user/no_such_call"),
        ("GET", "/user/%FF", "no such route: /user/%FF"),
    ];
    for (method, path, detail) in cases {
        let r = s
            .http
            .request(method.parse().unwrap(), format!("{}{path}", s.base))
            .header("operationID", "op-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{method} {path}: OpenIM answers HTTP 200 always");
        assert_eq!(r.headers().get("operationID").and_then(|v| v.to_str().ok()), Some("op-1"), "{method} {path}");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(body, err(1001, "ArgsError", detail), "{method} {path}");
    }
}
