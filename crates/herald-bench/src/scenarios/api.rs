//! HTTP API throughput: concurrent clients on the hot calls, each call measured on its own for a fixed time.
//!
//! Setup: `users` registered users, a quarter of them reported online, and a follow graph where every user follows
//! 20 of the first 100 users (the "stars", ~users/5 fans each), so follow pages are full.

use std::sync::Arc;

use serde_json::json;

use super::load::{self, CheckBody, MakeRequest};
use super::redis_ref::{self, pick};
use crate::api::{Api, SETUP_CONCURRENCY, run_prefix};
use crate::cli::{ApiArgs, Target};
use crate::dialects::{DialectCredentials, rongcloud_headers};
use crate::report::{Report, Row};

const STARS: usize = 100;
const FOLLOWS_PER_USER: usize = 20;

/// The native calls, in the order they run.
const NATIVE_CALLS: &[&str] = &["presence-query", "subscribe", "fans-page", "following-page"];
/// The dialects' hot calls, run by default when the server's credentials.json is given.
const DIALECT_CALLS: &[&str] =
    &["openim-status", "rongcloud-check-online", "rongcloud-subscribe", "tencent-query-status", "tencent-follow-get"];

pub async fn run(target: &Target, args: &ApiArgs) -> anyhow::Result<Report> {
    let api = Api::new(target)?;
    let prefix = run_prefix(target);
    let users = args.users.max(STARS * 2);
    let batch = args.batch.clamp(1, 100);
    let ids: Arc<Vec<String>> = Arc::new((0..users).map(|i| format!("{prefix}-a{i}")).collect());

    eprintln!("api: registering {users} users");
    api.register(&ids).await?;
    eprintln!("api: reporting a quarter online, following the stars");
    let online: Vec<String> = ids.iter().step_by(4).cloned().collect();
    futures_util::future::try_join_all(online.chunks(online.len().div_ceil(SETUP_CONCURRENCY)).map(|chunk| {
        let api = api.clone();
        async move {
            for u in chunk {
                api.post("/v1/presence/report", &json!({"user_id": u, "online": true, "platform": "web", "ttl": 3600}))
                    .await?;
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    let follows: Vec<(String, Vec<String>)> = ids
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let stars = (0..FOLLOWS_PER_USER).map(|x| pick(i as u64, x, STARS)).filter(|&s| s != i);
            (u.clone(), stars.map(|s| ids[s].clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect())
        })
        .collect();
    api.follow_all(follows, SETUP_CONCURRENCY).await?;

    let dialects = if api.credentials.is_null() { None } else { Some(DialectCredentials::load(&api).await?) };
    let calls: Vec<String> = if !args.calls.is_empty() {
        args.calls.clone()
    } else {
        let dialect_calls = if dialects.is_some() { DIALECT_CALLS } else { &[] };
        NATIVE_CALLS.iter().chain(dialect_calls).map(|s| s.to_string()).collect()
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).tcp_nodelay(true).build()?;
    let mut report = Report::new("api");
    report.fact("users", users as u64);
    report.fact("concurrency", args.concurrency as u64);
    report.fact("users per batch call", batch as u64);
    for call in &calls {
        let Some((make, check)) = request(&api, dialects.as_ref(), call, &ids, batch) else {
            report.fact(call, "unknown call: skipped");
            continue;
        };
        eprintln!("api: {call} for {} s", args.secs);
        let r = load::closed_loop(&http, args.concurrency, args.secs, make, check).await;
        if let Some(e) = &r.first_error {
            report.fact(&format!("{call}: first error"), e.clone());
        }
        report.row(Row::herald(call.clone(), r.ok, r.secs, r.samples.summary(), r.errors));
    }
    if !target.no_redis && calls.iter().any(|c| c == "presence-query") {
        match redis_ref::mget(&target.redis, &prefix, users, batch, args.concurrency, args.secs, "presence-query").await
        {
            Ok(row) => report.row(row),
            Err(e) => report.fact("redis reference", format!("failed: {e:#}")),
        }
    }
    Ok(report)
}

/// The request builder (and body check) of a named call; `None` for an unknown call or a dialect without credentials.
fn request(
    api: &Api,
    dialects: Option<&DialectCredentials>,
    call: &str,
    ids: &Arc<Vec<String>>,
    batch: usize,
) -> Option<(MakeRequest, Option<CheckBody>)> {
    let (base, key, ids) = (api.base.clone(), api.api_key.clone(), ids.clone());
    let pool = ids.clone();
    let some = move |i: u64| -> Vec<String> { (0..batch).map(|x| pool[pick(i, x, pool.len())].clone()).collect() };
    let ids_for_dialects = ids.clone();
    let make: MakeRequest = match call {
        "presence-query" => Arc::new(move |http, i| {
            http.post(format!("{base}/v1/presence/query")).bearer_auth(&key).json(&json!({ "user_ids": some(i) }))
        }),
        "subscribe" => Arc::new(move |http, i| {
            let mut users = some(i);
            let subscriber = users.pop().unwrap_or_default();
            users.retain(|u| *u != subscriber);
            http.post(format!("{base}/v1/subscriptions"))
                .bearer_auth(&key)
                .json(&json!({ "subscriber": subscriber, "targets": users }))
        }),
        "fans-page" => Arc::new(move |http, i| {
            let star = &ids[pick(i, 0, STARS)];
            http.get(format!("{base}/v1/users/{star}/fans?limit=100")).bearer_auth(&key)
        }),
        "following-page" => Arc::new(move |http, i| {
            let user = &ids[pick(i, 0, ids.len())];
            http.get(format!("{base}/v1/users/{user}/following?limit=100")).bearer_auth(&key)
        }),
        _ => return dialect_request(&base, dialects?, call, ids_for_dialects, some),
    };
    Some((make, None))
}

/// Dialect calls answer HTTP 200 with the outcome in the body: check it.
fn body_has(needle: &'static str) -> Option<CheckBody> {
    Some(Arc::new(move |body: &[u8]| body.windows(needle.len()).any(|w| w == needle.as_bytes())))
}

fn dialect_request(
    base: &str,
    d: &DialectCredentials,
    call: &str,
    ids: Arc<Vec<String>>,
    some: impl Fn(u64) -> Vec<String> + Send + Sync + 'static,
) -> Option<(MakeRequest, Option<CheckBody>)> {
    let base = base.to_owned();
    let tencent_query = |d: &DialectCredentials| {
        let (sdkappid, admin, sig) = d.tencent.clone()?;
        Some(move |i: u64| {
            format!(
                "sdkappid={sdkappid}&identifier={admin}&usersig={sig}&random={}&contenttype=json",
                i % 4_000_000_000
            )
        })
    };
    Some(match call {
        "openim-status" => {
            let token = d.openim_admin_token.clone()?;
            let make: MakeRequest = Arc::new(move |http, i| {
                http.post(format!("{base}/user/get_users_status"))
                    .header("operationID", format!("bench-{i}"))
                    .header("token", &token)
                    .json(&json!({ "userIDs": some(i) }))
            });
            (make, body_has(r#""errCode":0"#))
        }
        "rongcloud-check-online" => {
            let (key, secret) = d.rongcloud.clone()?;
            let make: MakeRequest = Arc::new(move |http, i| {
                let user = &ids[pick(i, 0, ids.len())];
                let mut r = http.post(format!("{base}/user/checkOnline.json")).form(&[("userId", user.as_str())]);
                for (name, value) in rongcloud_headers(&key, &secret, i) {
                    r = r.header(name, value);
                }
                r
            });
            (make, body_has(r#""code":200"#))
        }
        "rongcloud-subscribe" => {
            let (key, secret) = d.rongcloud.clone()?;
            let make: MakeRequest = Arc::new(move |http, i| {
                let mut users = some(i);
                let subscriber = users.pop().unwrap_or_default();
                users.retain(|u| *u != subscriber);
                let form = [
                    ("userId", subscriber),
                    ("subUserIds", users.join(",")),
                    ("opType", "0".to_owned()),
                    ("expiry", "86400".to_owned()),
                    ("subType", "1".to_owned()),
                ];
                let mut r = http.post(format!("{base}/user/subscribe/set.json")).form(&form);
                for (name, value) in rongcloud_headers(&key, &secret, i) {
                    r = r.header(name, value);
                }
                r
            });
            (make, body_has(r#""code":200"#))
        }
        "tencent-query-status" => {
            let query = tencent_query(d)?;
            let make: MakeRequest = Arc::new(move |http, i| {
                http.post(format!("{base}/v4/openim/query_online_status?{}", query(i)))
                    .json(&json!({ "To_Account": some(i) }))
            });
            (make, body_has(r#""ActionStatus":"OK""#))
        }
        "tencent-follow-get" => {
            let query = tencent_query(d)?;
            let make: MakeRequest = Arc::new(move |http, i| {
                let star = &ids[pick(i, 0, STARS)];
                http.post(format!("{base}/v4/follow/follow_get?{}", query(i)))
                    .json(&json!({ "From_Account": star, "FollowType": 1, "StartCursor": "", "WantNum": 100 }))
            });
            (make, body_has(r#""ActionStatus":"OK""#))
        }
        _ => return None,
    })
}
