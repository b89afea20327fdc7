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
use crate::report::{Report, Row};

const STARS: usize = 100;
const FOLLOWS_PER_USER: usize = 20;

/// The native calls, in the order they run.
const NATIVE_CALLS: &[&str] = &["presence-query", "subscribe", "fans-page", "following-page"];

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
                api.post("/v1/presence/report", &json!({"user_id": u, "online": true, "platform": "web", "ttl": 3600})).await?;
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

    let calls: Vec<String> = if args.calls.is_empty() { NATIVE_CALLS.iter().map(|s| s.to_string()).collect() } else { args.calls.clone() };
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).tcp_nodelay(true).build()?;
    let mut report = Report::new("api");
    report.fact("users", users as u64);
    report.fact("concurrency", args.concurrency as u64);
    report.fact("users per batch call", batch as u64);
    for call in &calls {
        let Some((make, check)) = request(&api, call, &ids, batch) else {
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
        match redis_ref::mget(&target.redis, &prefix, users, batch, args.concurrency, args.secs, "presence-query").await {
            Ok(row) => report.row(row),
            Err(e) => report.fact("redis reference", format!("failed: {e:#}")),
        }
    }
    Ok(report)
}

/// The request builder (and body check) of a named call.
fn request(api: &Api, call: &str, ids: &Arc<Vec<String>>, batch: usize) -> Option<(MakeRequest, Option<CheckBody>)> {
    let (base, key, ids) = (api.base.clone(), api.api_key.clone(), ids.clone());
    let pool = ids.clone();
    let some = move |i: u64| -> Vec<String> { (0..batch).map(|x| pool[pick(i, x, pool.len())].clone()).collect() };
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
        _ => return None,
    };
    Some((make, None))
}
