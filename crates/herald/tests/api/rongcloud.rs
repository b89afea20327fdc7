//! The RongCloud-compatible API end to end: signed requests (seconds as the SDKs sign, milliseconds as the docs
//! do), every route and error path with whole bodies and statuses, paging under concurrent inserts, the per-app
//! rate limit, tokens that open the gateway, and the signed online-status webhook with a retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Options, Server};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// How a request's `Timestamp` is written.
#[derive(Clone, Copy)]
enum Clock {
    /// As RongCloud's server SDKs send it.
    Seconds,
    /// As RongCloud's docs describe it.
    Millis,
}

/// A RongCloud server-API client, signing like the vendor's SDKs.
pub(crate) struct Rc<'a> {
    server: &'a Server,
    key: String,
    secret: String,
}

struct Answer {
    status: u16,
    body: Value,
    request_id: Option<String>,
}

impl<'a> Rc<'a> {
    pub(crate) fn new(server: &'a Server) -> Self {
        let rc = &server.credentials["rongcloud"];
        Self::with(server, rc["app_key"].as_str().expect("app_key"), rc["app_secret"].as_str().expect("app_secret"))
    }

    /// A client of an app configured with these credentials.
    pub(crate) fn with(server: &'a Server, key: &str, secret: &str) -> Self {
        Self { server, key: key.to_owned(), secret: secret.to_owned() }
    }

    /// Headers of a correctly signed request; `prefix` is "" or "RC-".
    fn headers(&self, clock: Clock, prefix: &str) -> Vec<(String, String)> {
        self.signed(clock, prefix, now_millis())
    }

    /// Headers signed as of `at_ms` (unix milliseconds).
    fn headers_at(&self, clock: Clock, at_ms: i64) -> Vec<(String, String)> {
        self.signed(clock, "", at_ms)
    }

    fn signed(&self, clock: Clock, prefix: &str, at_ms: i64) -> Vec<(String, String)> {
        // Java SDK nonces look like this.
        let nonce = format!("{}.{}", rand_digits(6), rand_digits(8));
        let timestamp = match clock {
            Clock::Seconds => (at_ms / 1000).to_string(),
            Clock::Millis => at_ms.to_string(),
        };
        let signature = sha1_hex(&format!("{}{nonce}{timestamp}", self.secret));
        vec![
            (format!("{prefix}App-Key"), self.key.clone()),
            (format!("{prefix}Nonce"), nonce),
            (format!("{prefix}Timestamp"), timestamp),
            (format!("{prefix}Signature"), signature),
        ]
    }

    async fn send(&self, path: &str, headers: Vec<(String, String)>, body: &str) -> Answer {
        let mut req = self
            .server
            .http
            .post(format!("{}{path}", self.server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let request_id = r.headers().get("X-Request-ID").map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
        Answer { status, body, request_id }
    }

    /// A request signed in seconds, the SDKs' way.
    pub(crate) async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let a = self.send(path, self.headers(Clock::Seconds, ""), body).await;
        (a.status, a.body)
    }

    async fn get_token(&self, user: &str) -> String {
        let (status, body) = self.post("/user/getToken.json", &format!("userId={user}")).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn set(&self, body: &str) -> (u16, Value) {
        self.post("/user/subscribe/set.json", body).await
    }

    async fn query(&self, body: &str) -> (u16, Value) {
        self.post("/user/subscribe/query.json", body).await
    }
}

fn rand_digits(n: usize) -> String {
    let seed = now_millis() as u64 ^ (std::process::id() as u64) << 20;
    (0..n).map(|i| char::from(b'0' + ((seed >> (i * 3)) % 10) as u8)).collect()
}

fn invalid(code: u64, message: &str) -> Value {
    json!({"code": code, "errorMessage": message})
}

#[tokio::test]
async fn get_token_registers_the_user_and_opens_the_gateway() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    let a = rc
        .send(
            "/user/getToken.json",
            rc.headers(Clock::Seconds, ""),
            "userId=alice&name=Alice&portraitUri=http%3A%2F%2Fx%2Fa.png",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.body["token"].as_str().expect("token").to_owned();
    assert_eq!(a.body, json!({"code": 200, "userId": "alice", "token": token}));
    let (status, user) = s.get("/v1/users/alice").await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["nickname"], "Alice");

    let (_, offline) = rc.post("/user/checkOnline.json", "userId=alice").await;
    assert_eq!(offline, json!({"code": 200, "status": "0"}));
    let ws = s.connect_with_token(&token, "ios").await;
    let (_, online) = rc.post("/user/checkOnline.json", "userId=alice").await;
    assert_eq!(online, json!({"code": 200, "status": "1"}));
    ws.close().await;

    // A token signed with another secret, or of a kind the node does not know, does not open the gateway.
    let forged = token.rsplit_once('.').map(|(head, _)| format!("{head}.AAAA")).unwrap();
    let url = format!("{}/v1/ws?token={forged}&platform=ios", s.ws_base);
    assert!(tokio_tungstenite::connect_async(url).await.is_err(), "a forged token is refused");
}

#[tokio::test]
async fn subscriptions_made_here_deliver_events_on_the_gateway() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    let alice = rc.get_token("alice").await;
    rc.get_token("bob").await;
    let mut alice_ws = s.connect_with_token(&alice, "web").await;
    let (status, body) = rc.set("userId=alice&subUserIds=bob&opType=0&expiry=3600&subType=1").await;
    assert_eq!((status, body), (200, json!({"code": 200})));
    let bob = s.connect("bob", "android").await;
    let ev = alice_ws.presence().await;
    assert_eq!((ev["user_id"].as_str(), ev["online"].as_bool()), (Some("bob"), Some(true)));

    let (status, body) = rc.set("userId=alice&subUserIds=bob&opType=1").await;
    assert_eq!((status, body), (200, json!({"code": 200})));
    bob.close().await;
    assert!(
        alice_ws.recv_within(Duration::from_millis(800)).await.is_none(),
        "cancelled subscriptions deliver nothing"
    );
}

#[tokio::test]
async fn signatures_in_seconds_and_millis_with_either_header_prefix() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    for (clock, prefix) in [(Clock::Seconds, ""), (Clock::Millis, ""), (Clock::Seconds, "RC-"), (Clock::Millis, "RC-")]
    {
        let a = rc.send("/user/getToken.json", rc.headers(clock, prefix), "userId=u1").await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["code"], 200);
    }
    // Upper-case hex is the same signature.
    let mut headers = rc.headers(Clock::Seconds, "");
    headers[3].1 = headers[3].1.to_uppercase();
    assert_eq!(rc.send("/user/checkOnline.json", headers, "userId=u1").await.status, 200);

    // X-Request-ID is echoed on success and on errors, when at most 36 characters long; a longer one is replaced by
    // a generated ID, as a missing one is.
    let id = "0123456789abcdef0123456789abcdef0123";
    let mut headers = rc.headers(Clock::Seconds, "");
    headers.push(("X-Request-ID".into(), id.into()));
    assert_eq!(rc.send("/user/checkOnline.json", headers, "userId=u1").await.request_id.as_deref(), Some(id));
    let headers = vec![("App-Key".into(), "nope".into()), ("X-Request-ID".into(), "r-1".into())];
    assert_eq!(rc.send("/user/checkOnline.json", headers, "userId=u1").await.request_id.as_deref(), Some("r-1"));
    let mut headers = rc.headers(Clock::Seconds, "");
    headers.push(("X-Request-ID".into(), format!("{id}x")));
    let replaced = rc.send("/user/checkOnline.json", headers, "userId=u1").await.request_id.expect("an ID");
    assert_eq!((replaced.len(), replaced == id), (36, false), "{replaced}");
}

#[tokio::test]
async fn bad_credentials_answer_1001_and_1004() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    let unknown = invalid(1001, "App-Key is unknown or the app has no RongCloud credentials");
    let mismatch = invalid(1004, "signature mismatch");
    let ahead = invalid(1004, "Timestamp is more than 600 seconds ahead of the server's clock");

    let mut headers = rc.headers(Clock::Seconds, "");
    headers[0].1 = "not-a-key".into();
    let a = rc.send("/user/getToken.json", headers, "userId=u").await;
    assert_eq!((a.status, a.body), (401, unknown.clone()));
    let a = rc.send("/user/getToken.json", Vec::new(), "userId=u").await;
    assert_eq!((a.status, a.body), (401, unknown));

    let mut headers = rc.headers(Clock::Seconds, "");
    headers[3].1 = sha1_hex("wrong");
    let a = rc.send("/user/getToken.json", headers, "userId=u").await;
    assert_eq!((a.status, a.body), (401, mismatch.clone()));
    // A signature of other header values (here a changed nonce) does not verify.
    let mut headers = rc.headers(Clock::Millis, "");
    headers[1].1.push('0');
    let a = rc.send("/user/getToken.json", headers, "userId=u").await;
    assert_eq!((a.status, a.body), (401, mismatch));

    for clock in [Clock::Seconds, Clock::Millis] {
        let headers = rc.headers_at(clock, now_millis() + 11 * 60 * 1000);
        let a = rc.send("/user/getToken.json", headers, "userId=u").await;
        assert_eq!((a.status, a.body), (401, ahead.clone()));
    }

    let mut headers = rc.headers(Clock::Seconds, "");
    headers.remove(1);
    let a = rc.send("/user/getToken.json", headers, "userId=u").await;
    assert_eq!((a.status, a.body), (401, invalid(1004, "the Nonce header is missing")));
    let mut headers = rc.headers(Clock::Seconds, "");
    headers[2].1 = "yesterday".into();
    let a = rc.send("/user/getToken.json", headers, "userId=u").await;
    assert_eq!((a.status, a.body), (401, invalid(1004, "Timestamp must be an integer")));

    let (status, _) = s.get("/v1/users/u").await;
    assert_eq!(status, 404, "no rejected call registered anything");
}

/// RongCloud's official Node SDK signs once when it loads and reuses the signature for the life of the process.
#[tokio::test]
async fn a_signature_made_eleven_minutes_ago_is_accepted_unless_old_ones_are_refused() {
    let eleven_minutes_ago = now_millis() - 11 * 60 * 1000;
    let s = Server::start().await;
    let rc = Rc::new(&s);
    for clock in [Clock::Seconds, Clock::Millis] {
        let a = rc.send("/user/getToken.json", rc.headers_at(clock, eleven_minutes_ago), "userId=reused").await;
        assert_eq!((a.status, a.body["code"].as_i64()), (200, Some(200)), "{}", a.body);
    }

    let toml = "[default_app.dialects.rongcloud]\nreject_old_signatures = true\n".to_owned();
    let strict = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    let rc = Rc::new(&strict);
    let behind = invalid(1004, "Timestamp is more than 600 seconds behind the server's clock");
    for clock in [Clock::Seconds, Clock::Millis] {
        let a = rc.send("/user/getToken.json", rc.headers_at(clock, eleven_minutes_ago), "userId=reused").await;
        assert_eq!((a.status, a.body), (401, behind.clone()));
    }
    let a = rc.send("/user/getToken.json", rc.headers(Clock::Seconds, ""), "userId=fresh").await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn general_parameter_errors() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    assert_eq!(rc.post("/user/getToken.json", "").await, (400, invalid(1003, "no POST data")));
    assert_eq!(rc.post("/user/getToken.json", "name=x").await, (400, invalid(1002, "invalid userId: is required")));
    let long = "x".repeat(65);
    assert_eq!(
        rc.post("/user/getToken.json", &format!("userId={long}")).await,
        (400, invalid(1005, "userId is longer than 64 bytes"))
    );
    assert_eq!(
        rc.post("/user/getToken.json", &format!("userId=u&name={}", "n".repeat(65))).await,
        (400, invalid(1005, "name is longer than 64 characters"))
    );
    assert_eq!(
        rc.post("/user/getToken.json", "userId=a%01b").await,
        (400, invalid(1002, "invalid user_id: must not contain control characters"))
    );
    // RongCloud answers a status for any ID; its SDKs decode only successful answers.
    assert_eq!(rc.post("/user/checkOnline.json", "userId=ghost").await, (200, json!({"code": 200, "status": "0"})));
    assert_eq!(rc.post("/user/checkOnline.json", "").await, (400, invalid(1003, "no POST data")));
}

#[tokio::test]
async fn subscribe_set_validates_like_rongcloud() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    s.register(&["a", "b", "c"]).await;
    let cases = [
        ("subUserIds=b&opType=0&expiry=60", "invalid userId: is required"),
        ("userId=a&opType=0&expiry=60", "invalid subUserIds: is required"),
        ("userId=a&subUserIds=b&expiry=60", "invalid opType: is required"),
        ("userId=a&subUserIds=b&opType=2&expiry=60", "invalid opType: must be 0 (subscribe) or 1 (cancel), not 2"),
        ("userId=a&subUserIds=b&opType=x", "invalid opType: \"x\" is not an integer"),
        ("userId=a&subUserIds=b&opType=0", "invalid expiry: is required when opType is 0"),
        ("userId=a&subUserIds=b&opType=0&expiry=59", "invalid expiry: must be 60..=2592000 seconds"),
        ("userId=a&subUserIds=b&opType=0&expiry=2592001", "invalid expiry: must be 60..=2592000 seconds"),
        (
            "userId=a&subUserIds=b&opType=0&expiry=60&subType=3",
            "invalid subType: must be 1 (online status) or 2 (user profile)",
        ),
        ("userId=a&subUserIds=b,ghost&opType=0&expiry=60", "user ghost is not registered"),
        ("userId=ghost&subUserIds=b&opType=0&expiry=60", "user ghost is not registered"),
        ("userId=a&subUserIds=b,a&opType=0&expiry=60", "a user cannot subscribe to itself"),
        ("userId=a&subUserIds=ghost&opType=1", "user ghost is not registered"),
    ];
    for (body, message) in cases {
        assert_eq!(rc.set(body).await, (400, invalid(26001, message)), "{body}");
    }
    let too_many: Vec<String> = (0..201).map(|i| format!("t{i}")).collect();
    assert_eq!(
        rc.set(&format!("userId=a&subUserIds={}&opType=0&expiry=60", too_many.join(","))).await,
        (400, invalid(26001, "too many subUserIds: at most 200 per call"))
    );
    // Nothing was subscribed by the failed calls.
    let (_, page) = rc.query("userId=a").await;
    assert_eq!(page["subscriptions"], json!([]));

    // Comma lists and repeated keys (as the Node SDK sends) mean the same thing; duplicates fold.
    assert_eq!(rc.set("userId=a&subUserIds=b&subUserIds=c,b&opType=0&expiry=600").await, (200, json!({"code": 200})));
    let (status, page) = rc.query("userId=a").await;
    assert_eq!(status, 200);
    let record = &page["subscriptions"][0];
    assert_eq!(page["subscriptions"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(
        page,
        json!({"code": 200, "hasNext": false, "pageToken": page["pageToken"], "subscriptions": [
            {"subUserIds": ["b", "c"], "subType": 1, "subTime": record["subTime"], "expiry": 600}
        ]})
    );
    let sub_time = record["subTime"].as_i64().unwrap();
    assert!((now_millis() - sub_time).abs() < 60_000, "subTime is the subscribe time in milliseconds");

    // Profile subscriptions (subType 2) are listed apart.
    assert_eq!(rc.set("userId=a&subUserIds=c&opType=0&expiry=60&subType=2").await, (200, json!({"code": 200})));
    let (_, page) = rc.query("userId=a&subType=2").await;
    assert_eq!(page["subscriptions"][0]["subUserIds"], json!(["c"]));
    assert_eq!(page["subscriptions"][0]["subType"], 2);
    assert_eq!(page["subscriptions"][0]["expiry"], 60);

    // Re-subscribing refreshes subTime and expiry: b moves into a record of its own.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(rc.set("userId=a&subUserIds=b&opType=0&expiry=120").await, (200, json!({"code": 200})));
    let (_, page) = rc.query("userId=a").await;
    let records = page["subscriptions"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{page}");
    assert_eq!((records[0]["subUserIds"].clone(), records[0]["expiry"].clone()), (json!(["c"]), json!(600)));
    assert_eq!((records[1]["subUserIds"].clone(), records[1]["expiry"].clone()), (json!(["b"]), json!(120)));
    assert!(records[1]["subTime"].as_i64().unwrap() > sub_time);

    assert_eq!(rc.set("userId=a&subUserIds=b,c&opType=1").await, (200, json!({"code": 200})));
    let (_, page) = rc.query("userId=a").await;
    assert_eq!(page["subscriptions"], json!([]));
    assert_eq!(page["hasNext"], false);
}

#[tokio::test]
async fn subscriber_and_target_limits_answer_26022_and_26021() {
    let config = "[default_app.limits]\nmax_subscriptions_per_subscriber = 3\nmax_subscribers_per_target = 1\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let rc = Rc::new(&s);
    s.register(&["a", "b", "t1", "t2", "t3", "t4", "t5"]).await;
    assert_eq!(rc.set("userId=b&subUserIds=t1&opType=0&expiry=600").await, (200, json!({"code": 200})));

    // t1 already has its one subscriber: it is reported, the others are subscribed.
    let (status, body) = rc.set("userId=a&subUserIds=t1,t2,t3&opType=0&expiry=600").await;
    assert_eq!((status, body), (200, json!({"code": 26021, "subUserIds": ["t1"]})));
    let (_, page) = rc.query("userId=a").await;
    assert_eq!(page["subscriptions"][0]["subUserIds"], json!(["t2", "t3"]));

    // a holds 2 of 3: two more would exceed it, and nothing of the call is applied.
    let (status, body) = rc.set("userId=a&subUserIds=t4,t5&opType=0&expiry=600").await;
    assert_eq!(
        (status, body),
        (403, invalid(26022, "subscriber limit reached: at most 3 live subscriptions per user"))
    );
    let (_, page) = rc.query("userId=a").await;
    assert_eq!(page["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(page["subscriptions"][0]["subUserIds"], json!(["t2", "t3"]));
    // Re-subscribing held targets does not count twice.
    assert_eq!(rc.set("userId=a&subUserIds=t2,t3,t4&opType=0&expiry=600").await, (200, json!({"code": 200})));
}

#[tokio::test]
async fn query_pages_through_thousands_while_others_are_added() {
    let config =
        "[default_app.limits]\nmax_subscriptions_per_subscriber = 10000\nrongcloud_requests_per_second = 10000\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let rc = Rc::new(&s);
    const INITIAL: usize = 2400;
    let targets: Vec<String> = (0..INITIAL + 400).map(|i| format!("user-{i:05}")).collect();
    for chunk in targets.chunks(1000) {
        let users: Vec<Value> = chunk.iter().map(|id| json!({"user_id": id})).collect();
        let (status, body) = s.post("/v1/users", json!({"users": users})).await;
        assert_eq!(status, 200, "{body}");
    }
    s.register(&["fan"]).await;
    for chunk in targets[..INITIAL].chunks(200) {
        let (status, body) = rc.set(&format!("userId=fan&subUserIds={}&opType=0&expiry=86400", chunk.join(","))).await;
        assert_eq!((status, body), (200, json!({"code": 200})));
    }

    assert_eq!(rc.query("userId=fan&pageSize=49").await, (400, invalid(26001, "invalid pageSize: must be 50..=200")));
    assert_eq!(rc.query("userId=fan&pageSize=201").await, (400, invalid(26001, "invalid pageSize: must be 50..=200")));
    assert_eq!(
        rc.query("userId=fan&pageToken=not-a-token").await,
        (400, invalid(26001, "invalid pageToken: not a token this server issued"))
    );
    assert_eq!(rc.query("userId=ghost").await, (400, invalid(26001, "user ghost is not registered")));

    // Page through with varying sizes, adding 20 subscriptions before every page.
    let mut listed: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut added = INITIAL;
    let mut pages = 0;
    loop {
        if added < targets.len() {
            let batch = &targets[added..added + 20];
            let (status, _) = rc.set(&format!("userId=fan&subUserIds={}&opType=0&expiry=86400", batch.join(","))).await;
            assert_eq!(status, 200);
            added += 20;
        }
        let size = [50, 137, 200][pages % 3];
        let (status, page) = rc.query(&format!("userId=fan&pageSize={size}&pageToken={token}")).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let mut on_page = 0;
        for record in page["subscriptions"].as_array().unwrap() {
            let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 4, "{record}");
            assert_eq!((record["subType"].as_i64(), record["expiry"].as_i64()), (Some(1), Some(86400)));
            for id in record["subUserIds"].as_array().unwrap() {
                listed.push(id.as_str().unwrap().to_owned());
                on_page += 1;
            }
        }
        assert!(on_page <= size, "pageSize counts subscriptions");
        token = page["pageToken"].as_str().unwrap().to_owned();
        if page["hasNext"] == false {
            break;
        }
        assert_eq!(on_page, size, "a page with a next one is full");
        assert!(pages < 200, "paging does not end");
    }
    assert_eq!(added, targets.len(), "subscriptions were added all along");
    assert_eq!(listed, targets, "every subscription exactly once, in subscription order, the new ones at the end");

    // hasNext was exact: the last token lists nothing more, until something is added.
    let (_, page) = rc.query(&format!("userId=fan&pageToken={token}")).await;
    assert_eq!(page, json!({"code": 200, "hasNext": false, "pageToken": token, "subscriptions": []}));
    s.register(&["late"]).await;
    rc.set("userId=fan&subUserIds=late&opType=0&expiry=60").await;
    let (_, page) = rc.query(&format!("userId=fan&pageToken={token}")).await;
    assert_eq!(page["subscriptions"][0]["subUserIds"], json!(["late"]));
    assert_eq!(page["hasNext"], false);
}

#[tokio::test]
async fn expired_subscriptions_are_not_listed() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    s.register(&["a", "b", "c"]).await;
    // RongCloud's shortest lifetime is a minute; the native API can make a shorter one.
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "a", "targets": ["b"], "expiry": 1})).await;
    assert_eq!(status, 200, "{body}");
    rc.set("userId=a&subUserIds=c&opType=0&expiry=600").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = rc.query("userId=a").await;
        let ids: Vec<&Value> = page["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["subUserIds"].as_array().unwrap())
            .collect();
        if ids == [&json!("c")] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b never expired: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn rate_limit_answers_1008() {
    let config = "[default_app.limits]\nrongcloud_requests_per_second = 1\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let rc = Rc::new(&s);
    let answers = futures_util::future::join_all((0..20).map(|_| rc.post("/user/checkOnline.json", "userId=x"))).await;
    let limited: Vec<&(u16, Value)> = answers.iter().filter(|(status, _)| *status == 429).collect();
    assert!(!limited.is_empty(), "20 requests at once exceed 1 per second");
    assert_eq!(limited[0].1, invalid(1008, "rate limit exceeded: at most 1 requests per second"));
    assert!(answers.iter().any(|(status, _)| *status == 200), "the first ones pass");
}

/// What the test's app server received.
#[derive(Clone, Default)]
struct Received {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Received {
    /// The calls so far, once there are at least `n` (within a generous time).
    async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls.lock().unwrap().clone();
            if calls.len() >= n {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {n} webhook calls, got {calls:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An app server that answers 500 to its first call and 200 afterwards, recording every call.
async fn start_app_server() -> (String, Received) {
    use axum::extract::{RawQuery, State};
    use axum::http::StatusCode;

    let received = Received::default();
    async fn status(State(r): State<Received>, RawQuery(query): RawQuery, body: String) -> StatusCode {
        let mut calls = r.calls.lock().unwrap();
        calls.push((query.unwrap_or_default(), serde_json::from_str(&body).unwrap_or(Value::Null)));
        if calls.len() == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
    }
    let app = axum::Router::new().route("/status", axum::routing::post(status)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/status?app=demo"), received)
}

#[tokio::test]
async fn status_webhook_is_signed_ordered_and_retried() {
    let (url, received) = start_app_server().await;
    let config = format!("[default_app.webhooks]\nrongcloud_status_url = \"{url}\"\n");
    let s = Server::start_with(Options { config_toml: Some(config), ..Options::default() }).await;
    let rc = Rc::new(&s);
    let token = rc.get_token("alice").await;
    let before = now_millis();
    // One step at a time, so each change is its own event: 500 first, then the retry of the same call.
    let ios = s.connect_with_token(&token, "ios").await;
    received.wait_for(2).await;
    let web = s.connect_with_token(&token, "web").await;
    received.wait_for(3).await;
    web.close().await;
    received.wait_for(4).await;
    ios.close().await;
    let calls = received.wait_for(5).await;
    assert_eq!(calls[0].1, calls[1].1, "the refused call is retried");
    let expected = [("0", "iOS"), ("0", "Websocket"), ("1", "Websocket"), ("1", "iOS")];
    for (i, (call, (status, os))) in calls[1..].iter().zip(expected).enumerate() {
        let body = &call.1;
        let time = body["time"].as_i64().unwrap();
        assert!(time >= before && time <= now_millis(), "{body}");
        assert_eq!(
            body,
            &json!({"userid": "alice", "status": status, "os": os, "time": time, "clientIp": "", "sessionId": ""}),
            "call {i}"
        );
    }
    for (query, _) in &calls {
        let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()).unwrap_or_default();
        assert_eq!(get("app"), "demo", "the configured URL's own query is kept");
        let (nonce, timestamp) = (get("nonce"), get("signTimestamp"));
        assert!(!nonce.is_empty());
        let ts: i64 = timestamp.parse().unwrap();
        assert!((now_millis() - ts).abs() < 60_000, "signTimestamp is in milliseconds");
        assert_eq!(get("signature"), sha1_hex(&format!("{}{nonce}{timestamp}", rc.secret)));
    }
    assert_ne!(calls[0].0, calls[1].0, "every attempt is signed afresh");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.calls.lock().unwrap().len(), 5, "exactly one call per platform change");
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_answer_in_the_envelope() {
    let s = Server::start().await;
    let rc = Rc::new(&s);
    let cases = [
        ("GET", "/user/getToken.json", 405, invalid(1002, "this route only serves POST, not GET")),
        ("DELETE", "/user/subscribe/set.json", 405, invalid(1002, "this route only serves POST, not DELETE")),
        ("POST", "/user/nope.json", 404, invalid(1002, "no such route: /user/nope.json")),
        ("POST", "/user/%FF.json", 404, invalid(1002, "no such route: /user/%FF.json")),
    ];
    for (method, path, status, body) in cases {
        let mut req = s
            .http
            .request(method.parse().unwrap(), format!("{}{path}", s.base))
            .header("X-Request-ID", "req-1")
            .body("userId=u");
        for (k, v) in rc.headers(Clock::Seconds, "") {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        assert_eq!(r.headers().get("X-Request-ID").and_then(|v| v.to_str().ok()), Some("req-1"), "{method} {path}");
        if status == 405 {
            assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"), "{method} {path}");
        }
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(answer, body, "{method} {path}");
    }
}
