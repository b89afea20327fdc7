//! The Tencent Cloud Chat-compatible API end to end: UserSig authentication (with UserSigs made by the independent
//! implementation below and by Tencent's official library), accounts, follows with paging over a large changing
//! graph, online status, the rate limit, and callbacks received by a test HTTP server.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Options, Server};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// UserSig v2 written from Tencent's description, independently of the server's code.
mod independent_usersig {
    use std::io::Write;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    pub fn make(sdkappid: u64, key: &str, identifier: &str, expire: i64, time: i64) -> String {
        let content =
            format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(content.as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        // Keys in yet another order than the server writes them: a verifier must not care.
        let doc = format!(
            r#"{{"TLS.sig":"{sig}","TLS.time":{time},"TLS.expire":{expire},"TLS.sdkappid":{sdkappid},"TLS.identifier":"{identifier}","TLS.ver":"2.0"}}"#
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(doc.as_bytes()).unwrap();
        STANDARD.encode(z.finish().unwrap()).replace('+', "*").replace('/', "-").replace('=', "_")
    }

    pub fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }
}
use independent_usersig::{make as make_sig, now};

/// UserSigs made by Tencent's official `tls-sig-api-v2` npm library (version 1.0.2).
const VECTORS: &str = include_str!("../../../herald-http/src/tencent/testdata/usersig-vectors.json");

/// A Tencent REST client of one app.
pub(crate) struct Tencent {
    base: String,
    sdkappid: u64,
    key: String,
    admin: String,
    http: reqwest::Client,
}

impl Tencent {
    pub(crate) fn of(s: &Server) -> Self {
        let t = &s.credentials["tencent"];
        Self {
            base: s.base.clone(),
            sdkappid: t["sdkappid"].as_u64().unwrap(),
            key: t["secret_key"].as_str().unwrap().to_owned(),
            admin: t["admin_identifier"].as_str().unwrap().to_owned(),
            http: s.http.clone(),
        }
    }

    fn sig(&self, identifier: &str) -> String {
        make_sig(self.sdkappid, &self.key, identifier, 3600, now())
    }

    /// Call as the admin with a fresh UserSig.
    pub(crate) async fn call(&self, api: &str, body: Value) -> Value {
        let query = format!(
            "sdkappid={}&identifier={}&usersig={}&random=12345&contenttype=json",
            self.sdkappid,
            self.admin,
            self.sig(&self.admin)
        );
        self.raw(api, &query, body.to_string()).await
    }

    async fn raw(&self, api: &str, query: &str, body: String) -> Value {
        let r = self.http.post(format!("{}/v4/{api}?{query}", self.base)).body(body).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 200, "Tencent answers every call with HTTP 200");
        r.json().await.expect("JSON envelope")
    }

    async fn import(&self, ids: &[String]) {
        for chunk in ids.chunks(100) {
            let r = self.call("im_open_login_svc/multiaccount_import", json!({"Accounts": chunk})).await;
            assert_ok(&r);
            assert_eq!(r["FailAccounts"], json!([]), "{r}");
        }
    }
}

fn assert_ok(r: &Value) {
    assert_eq!((r["ActionStatus"].as_str(), r["ErrorCode"].as_i64()), (Some("OK"), Some(0)), "{r}");
    assert_eq!(r["ErrorInfo"], "", "{r}");
}

fn assert_fail(r: &Value, code: i64) {
    assert_eq!((r["ActionStatus"].as_str(), r["ErrorCode"].as_i64()), (Some("FAIL"), Some(code)), "{r}");
    assert!(!r["ErrorInfo"].as_str().unwrap().is_empty(), "{r}");
}

fn codes(r: &Value, field: &str) -> Vec<i64> {
    r[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {r}"))
        .iter()
        .map(|i| i["ResultCode"].as_i64().unwrap())
        .collect()
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

const VECTOR_APPS: &str = r#"
[[apps]]
app_id = "vectors"
api_key = "hk_vectors_key"
[apps.tencent]
sdkappid = 1400000001
secret_key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
admin_identifier = "administrator"

[[apps]]
app_id = "other"
api_key = "hk_other_key"
[apps.tencent]
sdkappid = 88888888
secret_key = "another-secret-key"
admin_identifier = "UserID_001"
"#;

#[tokio::test]
async fn official_usersigs_authenticate_until_they_expire() {
    let s = Server::start_with(Options { config_toml: Some(VECTOR_APPS.into()), ..Options::default() }).await;
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    for v in vectors {
        let query = format!(
            "sdkappid={}&identifier={}&usersig={}&random=99999999&contenttype=json",
            v["sdkappid"],
            v["identifier"].as_str().unwrap(),
            v["usersig"].as_str().unwrap()
        );
        let client = Tencent {
            base: s.base.clone(),
            sdkappid: 0,
            key: String::new(),
            admin: String::new(),
            http: s.http.clone(),
        };
        let r = client
            .raw("im_open_login_svc/account_check", &query, json!({"CheckItem": [{"UserID": "x"}]}).to_string())
            .await;
        let expires = v["time"].as_i64().unwrap() + v["expire"].as_i64().unwrap();
        let admin = ["administrator", "UserID_001"].contains(&v["identifier"].as_str().unwrap());
        match (now() > expires, admin) {
            (true, _) => assert_fail(&r, 70001),
            (false, true) => assert_ok(&r),
            (false, false) => assert_fail(&r, 60010),
        }
    }
    let admin_vector = &vectors[0];
    let sig = admin_vector["usersig"].as_str().unwrap();
    let client =
        Tencent { base: s.base.clone(), sdkappid: 0, key: String::new(), admin: String::new(), http: s.http.clone() };
    let call = |query: String| {
        let client = &client;
        async move {
            client
                .raw("im_open_login_svc/account_check", &query, json!({"CheckItem": [{"UserID": "x"}]}).to_string())
                .await
        }
    };
    if now() <= admin_vector["time"].as_i64().unwrap() + admin_vector["expire"].as_i64().unwrap() {
        // Signed for 1400000001, presented to 88888888.
        assert_fail(
            &call(format!("sdkappid=88888888&identifier=administrator&usersig={sig}&contenttype=json")).await,
            70014,
        );
        // Signed for "administrator", presented as another identifier.
        assert_fail(&call(format!("sdkappid=1400000001&identifier=root&usersig={sig}&contenttype=json")).await, 70013);
    }
    // The independent implementation agrees with the official one: its sig for the same app works.
    let mine = make_sig(
        1400000001,
        "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
        "administrator",
        60,
        now(),
    );
    assert_ok(
        &call(format!("sdkappid=1400000001&identifier=administrator&usersig={mine}&random=1&contenttype=json")).await,
    );
    let wrong_key = make_sig(1400000001, "not-the-key", "administrator", 60, now());
    assert_fail(
        &call(format!("sdkappid=1400000001&identifier=administrator&usersig={wrong_key}&contenttype=json")).await,
        70009,
    );
    let expired = make_sig(
        1400000001,
        "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
        "administrator",
        60,
        now() - 3600,
    );
    assert_fail(
        &call(format!("sdkappid=1400000001&identifier=administrator&usersig={expired}&contenttype=json")).await,
        70001,
    );
    assert_fail(
        &call("sdkappid=1400000001&identifier=administrator&usersig=eJxTotrash_&contenttype=json".into()).await,
        70003,
    );
    assert_fail(&call(format!("sdkappid=1234&identifier=administrator&usersig={mine}&contenttype=json")).await, 70020);
}

#[tokio::test]
async fn url_parameters_body_and_admin_errors() {
    let s = Server::start().await;
    let t = Tencent::of(&s);
    let sig = t.sig(&t.admin);
    let q = |extra: &str| format!("sdkappid={}&identifier={}&usersig={sig}{extra}", t.sdkappid, t.admin);
    let body = json!({"CheckItem": [{"UserID": "x"}]}).to_string();
    let api = "im_open_login_svc/account_check";
    assert_ok(&t.raw(api, &q("&random=4294967295&contenttype=json"), body.clone()).await);
    assert_fail(&t.raw(api, &q(""), body.clone()).await, 60025);
    assert_fail(&t.raw(api, &q("&contenttype=xml"), body.clone()).await, 60025);
    assert_fail(&t.raw(api, &q("&random=4294967296&contenttype=json"), body.clone()).await, 60025);
    assert_fail(
        &t.raw(api, &format!("identifier={}&usersig={sig}&contenttype=json", t.admin), body.clone()).await,
        60025,
    );
    assert_fail(
        &t.raw(api, &format!("sdkappid={}&identifier={}&contenttype=json", t.sdkappid, t.admin), body.clone()).await,
        60025,
    );

    for bad in ["", "not json", "{\"CheckItem\": [", "[1,2]"] {
        let r = t.raw(api, &q("&contenttype=json"), bad.into()).await;
        assert_fail(&r, 90001);
        assert_eq!(r["ErrorInfo"], "Fail to Parse json data of body, Please check it");
    }
    // Parsable but the wrong shape is a parameter error of the service.
    assert_fail(&t.call(api, json!({"CheckItem": "x"})).await, 70402);
    let r = t.call("follow/follow_check", json!({"From_Account": 5, "To_Account": []})).await;
    assert_fail(&r, 30001);
    assert_eq!(r["ErrorDisplay"], "", "follow routes carry ErrorDisplay");

    // A valid UserSig of a user who is not the admin.
    let user_q = format!("sdkappid={}&identifier=bob&usersig={}&contenttype=json", t.sdkappid, t.sig("bob"));
    assert_fail(&t.raw(api, &user_q, body.clone()).await, 60010);
    assert_fail(&t.raw("openim/query_online_status", &user_q, json!({"To_Account": ["x"]}).to_string()).await, 60010);
    let r =
        t.raw("follow/follow_get_info", &user_q, json!({"From_Account": "bob", "To_Account": ["x"]}).to_string()).await;
    assert_fail(&r, 30004);
    assert_eq!(r["ErrorDisplay"], "");
}

#[tokio::test]
async fn accounts_import_check_and_delete() {
    let s = Server::start().await;
    let t = Tencent::of(&s);
    assert_ok(
        &t.call(
            "im_open_login_svc/account_import",
            json!({"UserID": "alice", "Nick": "Alice", "FaceUrl": "http://x/a.png"}),
        )
        .await,
    );
    assert_fail(&t.call("im_open_login_svc/account_import", json!({"UserID": "a".repeat(33)})).await, 70402);
    assert_fail(&t.call("im_open_login_svc/account_import", json!({"Nick": "no id"})).await, 70402);
    let long = "b".repeat(33);
    let r = t.call("im_open_login_svc/multiaccount_import", json!({"Accounts": ["bob", long, "carol"]})).await;
    assert_ok(&r);
    assert_eq!(r["FailAccounts"], json!([long]));
    assert_fail(&t.call("im_open_login_svc/multiaccount_import", json!({"Accounts": ids("u", 101)})).await, 70402);

    let r = t
        .call("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "alice"}, {"UserID": "nobody"}]}))
        .await;
    assert_ok(&r);
    assert_eq!(
        r["ResultItem"],
        json!([
            {"UserID": "alice", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "Imported"},
            {"UserID": "nobody", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "NotImported"},
        ])
    );
    let r = t
        .call("im_open_login_svc/account_delete", json!({"DeleteItem": [{"UserID": "bob"}, {"UserID": "nobody"}]}))
        .await;
    assert_ok(&r);
    assert_eq!(codes(&r, "ResultItem"), vec![0, 70107]);
    assert_eq!(r["ResultItem"][0], json!({"ResultCode": 0, "ResultInfo": "", "UserID": "bob"}));
    let r = t.call("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "bob"}]})).await;
    assert_eq!(r["ResultItem"][0]["AccountStatus"], "NotImported");
    let many: Vec<Value> = ids("u", 101).into_iter().map(|u| json!({"UserID": u})).collect();
    assert_fail(&t.call("im_open_login_svc/account_check", json!({ "CheckItem": many })).await, 70402);
}

/// The forms clients written against Tencent's older documentation send (timsdk), and the newer documented ones.
#[tokio::test]
async fn older_and_newer_request_forms_are_accepted() {
    let s = Server::start().await;
    let t = Tencent::of(&s);
    assert_ok(&t.call("im_open_login_svc/account_import", json!({"Identifier": "old", "Nick": "Old"})).await);
    let long = "n".repeat(33);
    let list =
        json!({"AccountList": [{"UserID": "new", "Nick": "New", "FaceUrl": "http://x/n.png"}, {"UserID": long}]});
    let r = t.call("im_open_login_svc/multiaccount_import", list).await;
    assert_ok(&r);
    assert_eq!(r["FailAccounts"], json!([long]));
    let (_, body) = s.get("/v1/users/new").await;
    assert_eq!((body["nickname"].as_str(), body["face_url"].as_str()), (Some("New"), Some("http://x/n.png")), "{body}");
    let both = json!({"Accounts": ["a"], "AccountList": [{"UserID": "b"}]});
    assert_fail(&t.call("im_open_login_svc/multiaccount_import", both).await, 70402);
    assert_fail(&t.call("im_open_login_svc/multiaccount_import", json!({})).await, 70402);

    // account_check as GET, with its body.
    let query =
        format!("sdkappid={}&identifier={}&usersig={}&random=1&contenttype=json", t.sdkappid, t.admin, t.sig(&t.admin));
    let r = t
        .http
        .get(format!("{}/v4/im_open_login_svc/account_check?{query}", t.base))
        .body(json!({"CheckItem": [{"UserID": "old"}]}).to_string())
        .send()
        .await
        .expect("request");
    let r: Value = r.json().await.expect("JSON envelope");
    assert_ok(&r);
    assert_eq!(r["ResultItem"][0]["AccountStatus"], "Imported", "{r}");

    // querystate: the older name of query_online_status.
    let r = t.call("openim/querystate", json!({"To_Account": ["old"]})).await;
    assert_ok(&r);
    assert_eq!(r["QueryResult"][0]["To_Account"], "old", "{r}");
}

#[tokio::test]
async fn follow_add_check_info_and_delete_with_partial_failures() {
    let s = Server::start_with(Options {
        config_toml: Some("[default_app.limits]\nmax_following = 3\n".into()),
        ..Options::default()
    })
    .await;
    let t = Tencent::of(&s);
    t.import(&["a", "b", "c", "d", "e"].map(String::from)).await;
    let long = "x".repeat(33);
    let items = |to: &[&str]| to.iter().map(|t| json!({"To_Account": t})).collect::<Vec<_>>();

    let r = t
        .call("follow/follow_add", json!({"From_Account": "a", "FollowItem": items(&["b", "ghost", "a", &long, "c"])}))
        .await;
    assert_ok(&r);
    assert_eq!(r["ErrorDisplay"], "");
    assert_eq!(codes(&r, "ResultItem"), vec![0, 30003, 30001, 30001, 0]);
    assert_eq!(r["ResultItem"][0], json!({"To_Account": "b", "ResultCode": 0, "ResultInfo": ""}));
    // At most 3 followings: d fits, e does not.
    let r = t.call("follow/follow_add", json!({"From_Account": "a", "FollowItem": items(&["d", "e"])})).await;
    assert_eq!(codes(&r, "ResultItem"), vec![0, 32100]);
    assert_ok(&t.call("follow/follow_add", json!({"From_Account": "b", "FollowItem": items(&["a"])})).await);
    assert_ok(&t.call("follow/follow_add", json!({"From_Account": "e", "FollowItem": items(&["a"])})).await);

    let too_many: Vec<String> = ids("u", 21);
    let too_many_refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_fail(
        &t.call("follow/follow_add", json!({"From_Account": "a", "FollowItem": items(&too_many_refs)})).await,
        30001,
    );
    assert_fail(&t.call("follow/follow_add", json!({"From_Account": "a", "FollowItem": []})).await, 30001);
    assert_fail(
        &t.call("follow/follow_add", json!({"From_Account": "ghost", "FollowItem": items(&["a"])})).await,
        30003,
    );
    assert_fail(&t.call("follow/follow_add", json!({"From_Account": long, "FollowItem": items(&["a"])})).await, 30001);

    let r =
        t.call("follow/follow_check", json!({"From_Account": "a", "To_Account": ["b", "c", "e", "a", "ghost"]})).await;
    assert_ok(&r);
    let types: Vec<i64> =
        r["ResultItem"].as_array().unwrap().iter().map(|i| i["FollowType"].as_i64().unwrap()).collect();
    assert_eq!(types, vec![3, 2, 1, 0, 0], "mutual, I follow, follows me, self, unknown");
    assert_eq!(codes(&r, "ResultItem"), vec![0, 0, 0, 0, 30003]);
    assert_fail(&t.call("follow/follow_check", json!({"From_Account": "a", "To_Account": ids("u", 101)})).await, 30001);
    assert_fail(&t.call("follow/follow_check", json!({"From_Account": "ghost", "To_Account": ["a"]})).await, 30003);

    let r = t.call("follow/follow_get_info", json!({"From_Account": "a", "To_Account": ["a", "ghost"]})).await;
    assert_ok(&r);
    assert_eq!(
        r["FollowInfo"][0],
        json!({"To_Account": "a", "ResultCode": 0, "ResultInfo": "", "FollowerCount": 2, "FollowingCount": 3, "MutualFollowingCount": 1})
    );
    assert_eq!(r["FollowInfo"][1]["ResultCode"], 30003);
    assert_fail(
        &t.call("follow/follow_get_info", json!({"From_Account": "a", "To_Account": ids("u", 21)})).await,
        30001,
    );

    // The seed's shape: a plain string array, one ResultItem per account.
    let r = t.call("follow/follow_delete", json!({"From_Account": "a", "To_Account": ["b", "c", "ghost"]})).await;
    assert_ok(&r);
    assert_eq!(codes(&r, "ResultItem"), vec![0, 0, 30003]);
    assert_eq!(r["ResultItem"][1], json!({"To_Account": "c", "ResultCode": 0, "ResultInfo": ""}));
    let r = t.call("follow/follow_check", json!({"From_Account": "a", "To_Account": ["b"]})).await;
    assert_eq!(r["ResultItem"][0]["FollowType"], 1);
    assert_fail(&t.call("follow/follow_delete", json!({"From_Account": "a", "To_Account": ids("u", 21)})).await, 30001);

    for bad in [
        json!({"FollowType": 4}),
        json!({"FollowType": 1, "WantNum": 0}),
        json!({"FollowType": 1, "WantNum": 1001}),
        json!({"FollowType": 1, "StartCursor": "garbage!"}),
    ] {
        let mut body = bad.clone();
        body["From_Account"] = json!("a");
        assert_fail(&t.call("follow/follow_get", body).await, 30001);
    }
    assert_fail(&t.call("follow/follow_get", json!({"From_Account": "ghost", "FollowType": 1})).await, 30003);
    let r = t.call("follow/follow_get", json!({"From_Account": "a", "FollowType": 1})).await;
    assert_ok(&r);
    let fans: Vec<&str> =
        r["FollowItem"].as_array().unwrap().iter().map(|i| i["To_Account"].as_str().unwrap()).collect();
    assert_eq!(fans, vec!["e", "b"], "newest first");
    assert_eq!(r["NextCursor"], "");
    assert!(r["FollowItem"][0]["FollowTime"].as_i64().unwrap() > 1_600_000_000, "unix seconds");
}

/// Run `calls` requests at most `n` at a time.
async fn concurrently(t: &Tencent, calls: Vec<(&'static str, Value)>, n: usize) -> Vec<Value> {
    futures_util::stream::iter(calls).map(|(api, body)| t.call(api, body)).buffer_unordered(n).collect().await
}

/// Page a whole list, changing the graph between pages with `change(page_number, users_listed_so_far)`. Returns
/// the items in order.
async fn page_all(
    t: &Tencent,
    user: &str,
    follow_type: u8,
    want: usize,
    mut change: impl AsyncFnMut(usize, &HashSet<String>),
) -> Vec<(String, i64)> {
    let mut listed = HashSet::new();
    let mut out = Vec::new();
    let mut cursor = String::new();
    for page in 0.. {
        let r = t
            .call(
                "follow/follow_get",
                json!({"From_Account": user, "FollowType": follow_type, "StartCursor": cursor, "WantNum": want}),
            )
            .await;
        assert_ok(&r);
        let items = r["FollowItem"].as_array().unwrap();
        assert!(items.len() <= want);
        out.extend(
            items.iter().map(|i| (i["To_Account"].as_str().unwrap().to_owned(), i["FollowTime"].as_i64().unwrap())),
        );
        listed.extend(items.iter().map(|i| i["To_Account"].as_str().unwrap().to_owned()));
        cursor = r["NextCursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
        assert_eq!(items.len(), want, "only the last page is short");
        change(page, &listed).await;
    }
    out
}

/// A user of `pool` not listed yet and not removed yet: removing its edge now must keep it out of the listing.
fn unlisted(pool: &[String], listed: &HashSet<String>, removed: &HashSet<String>) -> String {
    pool.iter().rev().find(|u| !listed.contains(*u) && !removed.contains(*u)).expect("an unlisted user").clone()
}

/// Every edge present throughout is listed exactly once, newest first; edges removed before the cursor reached
/// them are not listed.
fn check_listing(
    listing: &[(String, i64)],
    initial: &HashSet<String>,
    removed: &HashSet<String>,
    added: &HashSet<String>,
) {
    let seen: HashSet<String> = listing.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(seen.len(), listing.len(), "no duplicates");
    assert!(listing.windows(2).all(|w| w[0].1 >= w[1].1), "newest first");
    let kept: HashSet<String> = initial.difference(removed).cloned().collect();
    assert!(kept.is_subset(&seen), "missing {} edges", kept.difference(&seen).count());
    assert!(seen.is_disjoint(removed), "a removed edge was listed");
    assert!(seen.iter().all(|u| initial.contains(u) || added.contains(u)), "an unknown edge was listed");
}

#[tokio::test]
async fn follow_get_pages_fans_following_and_mutual_over_a_changing_graph() {
    const FANS: usize = 2_000;
    const FOLLOWING: usize = 10_000;
    const MUTUAL: usize = 1_000;
    let config = "[storage]\nsqlite_sync = \"normal\"\n[default_app.limits]\nmax_following = 20000\ntencent_requests_per_second = 0\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let t = Tencent::of(&s);
    let fans = ids("fan", FANS);
    let followed = ids("star-follows-", FOLLOWING);
    let mut all = vec!["star".to_owned()];
    all.extend(fans.iter().cloned());
    all.extend(followed.iter().cloned());
    all.extend(ids("new", 200));
    let imports: Vec<_> =
        all.chunks(100).map(|c| ("im_open_login_svc/multiaccount_import", json!({"Accounts": c}))).collect();
    concurrently(&t, imports, 8).await.iter().for_each(assert_ok);

    // 2,000 fans, 10,000 + 1,000 followed by star (the first 1,000 fans back): 13,000 edges.
    let mut calls: Vec<(&'static str, Value)> = fans
        .iter()
        .map(|f| ("follow/follow_add", json!({"From_Account": f, "FollowItem": [{"To_Account": "star"}]})))
        .collect();
    let star_follows: Vec<&String> = followed.iter().chain(&fans[..MUTUAL]).collect();
    for chunk in star_follows.chunks(20) {
        let items: Vec<Value> = chunk.iter().map(|u| json!({"To_Account": u})).collect();
        calls.push(("follow/follow_add", json!({"From_Account": "star", "FollowItem": items})));
    }
    for r in concurrently(&t, calls, 16).await {
        assert_ok(&r);
        assert!(codes(&r, "ResultItem").iter().all(|c| *c == 0), "{r}");
    }
    let info = t.call("follow/follow_get_info", json!({"From_Account": "star", "To_Account": ["star"]})).await;
    assert_eq!(info["FollowInfo"][0]["FollowerCount"], FANS);
    assert_eq!(info["FollowInfo"][0]["FollowingCount"], FOLLOWING + MUTUAL);
    assert_eq!(info["FollowInfo"][0]["MutualFollowingCount"], MUTUAL);

    // Fans: between pages, a not-yet-listed fan leaves and a new user arrives.
    let initial: HashSet<String> = fans.iter().cloned().collect();
    let (mut removed, mut added) = (HashSet::new(), HashSet::new());
    let listing = page_all(&t, "star", 1, 333, async |page, listed| {
        let leaving = unlisted(&fans, listed, &removed);
        assert_ok(&t.call("follow/follow_delete", json!({"From_Account": leaving, "To_Account": ["star"]})).await);
        removed.insert(leaving);
        let newcomer = format!("new{page}");
        assert_ok(
            &t.call("follow/follow_add", json!({"From_Account": newcomer, "FollowItem": [{"To_Account": "star"}]}))
                .await,
        );
        added.insert(newcomer);
    })
    .await;
    check_listing(&listing, &initial, &removed, &added);
    let former_fans = removed;

    // Following: star unfollows some not-yet-listed users and follows new ones.
    let initial: HashSet<String> = followed.iter().chain(&fans[..MUTUAL]).cloned().collect();
    let (mut removed, mut added) = (HashSet::new(), HashSet::new());
    let listing = page_all(&t, "star", 2, 1000, async |page, listed| {
        let mut gone = Vec::new();
        for _ in 0..5 {
            let next = unlisted(&followed, listed, &removed);
            removed.insert(next.clone());
            gone.push(next);
        }
        let r = t.call("follow/follow_delete", json!({"From_Account": "star", "To_Account": gone})).await;
        assert_eq!(codes(&r, "ResultItem"), vec![0; 5]);
        let newcomer = format!("new{}", 100 + page);
        assert_ok(
            &t.call("follow/follow_add", json!({"From_Account": "star", "FollowItem": [{"To_Account": newcomer}]}))
                .await,
        );
        added.insert(newcomer);
    })
    .await;
    assert!(listing.len() >= FOLLOWING + MUTUAL - 100);
    check_listing(&listing, &initial, &removed, &added);

    // Mutual: fans who stop following star drop out of it.
    let initial: HashSet<String> = fans[..MUTUAL].iter().filter(|f| !former_fans.contains(*f)).cloned().collect();
    let mut removed = HashSet::new();
    let listing = page_all(&t, "star", 3, 100, async |_, listed| {
        let leaving = unlisted(&fans[..MUTUAL], listed, &removed);
        t.call("follow/follow_delete", json!({"From_Account": leaving, "To_Account": ["star"]})).await;
        removed.insert(leaving);
    })
    .await;
    check_listing(&listing, &initial, &removed, &HashSet::new());

    // Once the graph is still, the counts agree with the lists.
    let info = t.call("follow/follow_get_info", json!({"From_Account": "star", "To_Account": ["star"]})).await;
    let info = &info["FollowInfo"][0];
    let count = |ft| page_all(&t, "star", ft, 1000, async |_, _| {});
    assert_eq!(info["FollowerCount"], count(1).await.len());
    assert_eq!(info["FollowingCount"], count(2).await.len());
    assert_eq!(info["MutualFollowingCount"], count(3).await.len());
}

#[tokio::test]
async fn query_online_status_reports_platforms_and_push_online() {
    let s = Server::start().await;
    let t = Tencent::of(&s);
    t.import(&["alice", "bob", "carol"].map(String::from)).await;
    // A user's own UserSig opens the gateway as that user.
    let _alice_ios = s.connect_with_token(&t.sig("alice"), "ios").await;
    let _alice_web = s.connect_with_query(&format!("token={}&platform=web&background=true", t.sig("alice"))).await;
    let _bob = s.connect_with_query(&format!("token={}&platform=android&background=true", t.sig("bob"))).await;

    let body = json!({"To_Account": ["alice", "bob", "carol", "ghost"], "IsNeedDetail": 1});
    let r = wait_for(&t, "openim/query_online_status", body, |r| r["QueryResult"][1]["Status"] == "PushOnline").await;
    assert_ok(&r);
    assert_eq!(
        r["QueryResult"],
        json!([
            {"To_Account": "alice", "Status": "Online", "State": "Online",
             "Detail": [{"Platform": "iPhone", "Status": "Online"}, {"Platform": "Web", "Status": "PushOnline"}]},
            {"To_Account": "bob", "Status": "PushOnline", "State": "PushOnline", "Detail": [{"Platform": "Android", "Status": "PushOnline"}]},
            {"To_Account": "carol", "Status": "Offline", "State": "Offline", "Detail": []},
        ])
    );
    assert_eq!(r["ErrorList"], json!([{"To_Account": "ghost", "ErrorCode": 70107}]));
    let r = t.call("openim/query_online_status", json!({"To_Account": ["alice"]})).await;
    assert_eq!(
        r["QueryResult"],
        json!([{"To_Account": "alice", "Status": "Online", "State": "Online"}]),
        "no Detail unless asked"
    );
    assert_eq!(r["ErrorList"], json!([]));
    assert_fail(&t.call("openim/query_online_status", json!({"To_Account": ids("u", 501)})).await, 70402);
    assert_ok(&t.call("openim/query_online_status", json!({"To_Account": ids("u", 500)})).await);

    // A bad or foreign UserSig does not open the gateway.
    let forged = make_sig(t.sdkappid, "wrong", "alice", 60, now());
    let url = format!("{}/v1/ws?token={forged}&platform=web", s.ws_base);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    // Nor does the administrator's, valid as it is for the REST API: a client connection is a user's.
    let url = format!("{}/v1/ws?token={}&platform=web", s.ws_base, t.sig(&t.admin));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(refused)) => assert_eq!(refused.status().as_u16(), 401),
        other => panic!("the administrator's UserSig was not refused: {:?}", other.map(|_| ())),
    }
}

/// Call until `done` holds (presence settles asynchronously), for at most 10 s.
async fn wait_for(t: &Tencent, api: &str, body: Value, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.call(api, body.clone()).await;
        if done(&r) || tokio::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn follow_and_online_routes_are_rate_limited_per_app() {
    let config = "[default_app.limits]\ntencent_requests_per_second = 3\n";
    let s = Server::start_with(Options { config_toml: Some(config.into()), ..Options::default() }).await;
    let t = Tencent::of(&s);
    t.import(&["a".to_owned()]).await;
    let calls: Vec<_> =
        (0..60).map(|_| ("follow/follow_check", json!({"From_Account": "a", "To_Account": ["a"]}))).collect();
    let results = concurrently(&t, calls, 20).await;
    let limited = results.iter().filter(|r| r["ErrorCode"] == 60007).count();
    let ok = results.iter().filter(|r| r["ErrorCode"] == 0).count();
    assert_eq!(limited + ok, 60);
    assert!(ok >= 1 && limited >= 1, "ok {ok}, limited {limited}");
    assert_eq!(results.iter().find(|r| r["ErrorCode"] == 60007).unwrap()["ActionStatus"], "FAIL");
    // Account routes are not part of the limited services.
    let calls: Vec<_> =
        (0..30).map(|_| ("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "a"}]}))).collect();
    concurrently(&t, calls, 10).await.iter().for_each(assert_ok);
}

/// A test HTTP server recording callbacks as (query, body); the very first request fails with 500, so the first
/// callback arrives only through a retry.
async fn callback_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, Value)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(move |axum::extract::RawQuery(q): axum::extract::RawQuery, body: String| {
        let (tx, calls) = (tx.clone(), calls.clone());
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new());
            }
            let _ = tx.send((q.unwrap_or_default(), serde_json::from_str(&body).unwrap_or(Value::Null)));
            (axum::http::StatusCode::OK, json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}).to_string())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/im/callback"), rx)
}

/// The next callback matching `pred`, within 20 s; others are kept aside.
async fn next_callback(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
    pred: impl Fn(&Value) -> bool,
) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got =
            tokio::time::timeout_at(deadline, rx.recv()).await.expect("callback within 20 s").expect("receiver open");
        if pred(&got.1) {
            return got;
        }
    }
}

fn query_map(q: &str) -> std::collections::HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn state_change(user: &str, action: &'static str) -> impl Fn(&Value) -> bool {
    let user = user.to_owned();
    move |b: &Value| {
        b["CallbackCommand"] == "State.StateChange"
            && b["Info"]["To_Account"] == user.as_str()
            && b["Info"]["Action"] == action
    }
}

#[tokio::test]
async fn callbacks_reach_the_app_server_with_retries() {
    let (url, mut rx) = callback_receiver().await;
    let config = format!("[default_app.webhooks]\ntencent_callback_url = \"{url}\"\n");
    let s = Server::start_with(Options { config_toml: Some(config), ..Options::default() }).await;
    let t = Tencent::of(&s);
    t.import(&["alice", "bob"].map(String::from)).await;

    let ws = s.connect_with_token(&t.sig("alice"), "ios").await;
    let (query, body) = next_callback(&mut rx, state_change("alice", "Login")).await;
    let q = query_map(&query);
    assert_eq!(q["SdkAppid"], t.sdkappid.to_string());
    assert_eq!(q["CallbackCommand"], "State.StateChange");
    assert_eq!(q["contenttype"], "json");
    assert_eq!(q["OptPlatform"], "iPhone");
    assert!(q.contains_key("ClientIP"));
    assert_eq!(body["Info"], json!({"Action": "Login", "To_Account": "alice", "Reason": "Register"}));
    assert!(body["EventTime"].as_i64().unwrap() > 1_600_000_000_000, "milliseconds");
    ws.close().await;
    let (_, body) = next_callback(&mut rx, state_change("alice", "Disconnect")).await;
    assert_eq!(body["Info"]["Reason"], "LinkClose");

    let _ws = s.connect_with_token(&t.sig("bob"), "web").await;
    next_callback(&mut rx, state_change("bob", "Login")).await;
    let (status, _) = s.post("/v1/connections/kick", json!({"user_id": "bob"})).await;
    assert_eq!(status, 200);
    let (query, body) = next_callback(&mut rx, state_change("bob", "Logout")).await;
    assert_eq!(body["Info"]["Reason"], "Unregister");
    assert_eq!(query_map(&query)["OptPlatform"], "RESTAPI");

    assert_ok(
        &t.call("follow/follow_add", json!({"From_Account": "alice", "FollowItem": [{"To_Account": "bob"}]})).await,
    );
    let (query, body) = next_callback(&mut rx, |b| b["CallbackCommand"] == "Follow.CallbackAfterFollowAdd").await;
    assert_eq!(query_map(&query)["CallbackCommand"], "Follow.CallbackAfterFollowAdd");
    assert_eq!(body["From_Account"], "alice");
    assert_eq!(body["FollowList"], json!([{"To_Account": "bob"}]));
    assert!(body["EventTime"].as_i64().is_some());
    assert_ok(&t.call("follow/follow_delete", json!({"From_Account": "alice", "To_Account": ["bob"]})).await);
    let (_, body) = next_callback(&mut rx, |b| b["CallbackCommand"] == "Follow.CallbackAfterFollowDelete").await;
    assert_eq!((body["From_Account"].clone(), body["To_Account"].clone()), (json!("alice"), json!(["bob"])));
}

#[tokio::test]
async fn a_silent_client_times_out_with_reason_timeout() {
    let (url, mut rx) = callback_receiver().await;
    let config = format!("[default_app.webhooks]\ntencent_callback_url = \"{url}\"\n");
    let s =
        Server::start_with(Options { config_toml: Some(config), heartbeat_timeout_secs: 1.0, ..Options::default() })
            .await;
    let t = Tencent::of(&s);
    t.import(&["dora".to_owned()]).await;
    let _ws = s.connect_with_token(&t.sig("dora"), "android").await;
    next_callback(&mut rx, state_change("dora", "Login")).await;
    let (_, body) = next_callback(&mut rx, state_change("dora", "Disconnect")).await;
    assert_eq!(body["Info"]["Reason"], "TimeOut");
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_answer_in_the_envelope() {
    let s = Server::start().await;
    let t = Tencent::of(&s);
    let query =
        format!("sdkappid={}&identifier={}&usersig={}&random=1&contenttype=json", t.sdkappid, t.admin, t.sig(&t.admin));
    let fail = |info: &str| json!({"ActionStatus": "FAIL", "ErrorCode": 60002, "ErrorInfo": info});
    let mut follow_fail = fail("this route only serves POST, not GET");
    follow_fail["ErrorDisplay"] = json!("");
    let cases = [
        ("GET", "/v4/follow/follow_add", follow_fail),
        ("PUT", "/v4/im_open_login_svc/account_check", fail("this route only serves POST, not PUT")),
        ("POST", "/v4/no_such_service/command", fail("no such route: /v4/no_such_service/command")),
        ("POST", "/v4/follow/no_such_command", fail("no such route: /v4/follow/no_such_command")),
        ("POST", "/v4/%FF/x", fail("no such route: /v4/%FF/x")),
    ];
    for (method, path, body) in cases {
        let r = s
            .http
            .request(method.parse().unwrap(), format!("{}{path}?{query}", s.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{method} {path}: Tencent answers every call with HTTP 200");
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(answer, body, "{method} {path}");
    }
}
