//! Follow graph: load a graph with a power-law fan-in through the API, then measure the pages and checks a client
//! makes on it.
//!
//! The graph: user 0, 1, ... are celebrities with `celebrity_fans` fans each (users right after them follow them:
//! the heavy head); every user also follows `extra_follows` users drawn from a Zipf (s = 1) distribution over all
//! users (the long tail); celebrity 0 follows back its first `follow_back` fans (its mutual list).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use super::load::{self, MakeRequest};
use super::redis_ref::{self, pick};
use crate::api::{Api, run_prefix};
use crate::cli::{GraphArgs, Target};
use crate::report::{Report, Row};

const FANS_FIRST: &str = "fans page, celebrity, first";
const FANS_DEEP: &str = "fans page, celebrity, any depth";
const CHECK: &str = "check 100 users";

pub async fn run(target: &Target, args: &GraphArgs) -> anyhow::Result<Report> {
    let api = Api::new(target)?;
    let prefix = run_prefix(target);
    let users = args.users;
    let celebs = args.celebrity_fans.len();
    if users <= celebs || args.celebrity_fans.iter().any(|&f| f + celebs > users) {
        bail!("--users must exceed the celebrities plus each one's fans");
    }
    let id = {
        let prefix = prefix.clone();
        move |i: usize| format!("{prefix}-g{i}")
    };
    let mut report = Report::new("graph");

    if !args.skip_load {
        eprintln!("graph: registering {users} users");
        let ids: Vec<String> = (0..users).map(&id).collect();
        let register = api.register(&ids).await?;
        drop(ids);
        report.fact("register users (s)", round2(register.as_secs_f64()));

        eprintln!("graph: loading follows");
        let started = Instant::now();
        let edges = Arc::new(AtomicU64::new(0));
        let ticker = {
            let edges = edges.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    let e = edges.load(Ordering::Relaxed);
                    eprintln!("graph: {e} edges, {:.0}/s", e as f64 / started.elapsed().as_secs_f64());
                }
            })
        };
        let fans = args.celebrity_fans.clone();
        let (extra, id2) = (args.extra_follows, id.clone());
        let load = stream::iter(0..users)
            .map(|i| {
                let followees = followees_of(i, users, &fans, extra);
                (id2(i), followees.into_iter().map(&id2).collect::<Vec<_>>())
            })
            .chain(stream::iter(std::iter::once(0)).flat_map(|_| {
                let back: Vec<String> = (celebs..celebs + args.follow_back.min(users - celebs)).map(&id2).collect();
                stream::iter(back.chunks(100).map(|c| (id2(0), c.to_vec())).collect::<Vec<_>>())
            }))
            .filter(|(_, f)| std::future::ready(!f.is_empty()))
            .map(|(follower, followees)| {
                let (api, edges) = (api.clone(), edges.clone());
                async move {
                    let n = followees.len() as u64;
                    api.post("/v1/follows", &json!({ "follower": follower, "followees": followees })).await?;
                    edges.fetch_add(n, Ordering::Relaxed);
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(args.load_concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await;
        ticker.abort();
        load?;
        let secs = started.elapsed().as_secs_f64();
        let e = edges.load(Ordering::Relaxed);
        report.row(Row::herald("load follows (edges)", e, secs, None, 0));
        report.fact("edges", e);
    }
    let counts = api.post("/v1/follows/counts", &json!({ "user_ids": [id(0), id(celebs)] })).await?;
    report.fact("celebrity 0 counts", counts["results"][0].clone());

    eprintln!("graph: walking the fans of celebrity 0 for page cursors");
    let walk_started = Instant::now();
    let cursors = walk_cursors(&api, &id(0)).await?;
    report.fact("fans pages of celebrity 0 walked", cursors.len() as u64 + 1);
    report.fact("full walk of celebrity 0's fans (s)", round2(walk_started.elapsed().as_secs_f64()));

    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).tcp_nodelay(true).build()?;
    let (base, key) = (api.base.clone(), api.api_key.clone());
    let celeb = id(0);
    let cursors = Arc::new(cursors);
    let queries: Vec<(&str, MakeRequest)> = vec![
        (FANS_FIRST, {
            let (base, key, celeb) = (base.clone(), key.clone(), celeb.clone());
            Arc::new(move |http: &reqwest::Client, _| {
                http.get(format!("{base}/v1/users/{celeb}/fans?limit=100")).bearer_auth(&key)
            })
        }),
        (FANS_DEEP, {
            let (base, key, celeb, cursors) = (base.clone(), key.clone(), celeb.clone(), cursors.clone());
            Arc::new(move |http: &reqwest::Client, i| {
                let cursor = &cursors[pick(i, 0, cursors.len())];
                http.get(format!("{base}/v1/users/{celeb}/fans?limit=100&cursor={cursor}")).bearer_auth(&key)
            })
        }),
        ("mutual page, celebrity", {
            let (base, key, celeb) = (base.clone(), key.clone(), celeb.clone());
            Arc::new(move |http: &reqwest::Client, _| {
                http.get(format!("{base}/v1/users/{celeb}/mutual?limit=100")).bearer_auth(&key)
            })
        }),
        ("following page, any user", {
            let (base, key, id) = (base.clone(), key.clone(), id.clone());
            Arc::new(move |http: &reqwest::Client, i| {
                let user = id(pick(i, 0, users));
                http.get(format!("{base}/v1/users/{user}/following?limit=100")).bearer_auth(&key)
            })
        }),
        (CHECK, {
            let (base, key, id, celeb) = (base.clone(), key.clone(), id.clone(), celeb.clone());
            Arc::new(move |http: &reqwest::Client, i| {
                let others: Vec<String> = (0..100).map(|x| id(pick(i, x, users))).collect();
                http.post(format!("{base}/v1/follows/check"))
                    .bearer_auth(&key)
                    .json(&json!({ "user_id": celeb, "others": others }))
            })
        }),
    ];
    for (name, make) in queries {
        eprintln!("graph: {name} for {} s", args.secs);
        let r = load::closed_loop(&http, args.concurrency, args.secs, make, None).await;
        if let Some(e) = &r.first_error {
            report.fact(&format!("{name}: first error"), e.clone());
        }
        report.row(Row::herald(name, r.ok, r.secs, r.samples.summary(), r.errors));
    }
    report.fact("concurrency", args.concurrency as u64);
    if !target.no_redis {
        match redis_ref::graph(
            &target.redis,
            &prefix,
            args.celebrity_fans[0],
            args.concurrency,
            args.secs,
            FANS_DEEP,
            CHECK,
        )
        .await
        {
            Ok(rows) => rows.into_iter().for_each(|r| report.row(r)),
            Err(e) => report.fact("redis reference", format!("failed: {e:#}")),
        }
    }
    Ok(report)
}

/// Whom user `i` follows: the celebrities whose fan range holds it, and `extra` Zipf-drawn users.
fn followees_of(i: usize, users: usize, fans: &[usize], extra: usize) -> Vec<usize> {
    let celebs = fans.len();
    let mut out: Vec<usize> =
        fans.iter().enumerate().filter(|&(_, &f)| i >= celebs && i < celebs + f).map(|(c, _)| c).collect();
    for x in 0..extra {
        // Log-uniform rank: P(rank r) ~ 1/r, so a few users collect most of the tail's follows.
        let u = pick(i as u64, x + 7, 1 << 30) as f64 / (1u64 << 30) as f64;
        let rank = ((users as f64).powf(u) as usize).saturating_sub(1).min(users - 1);
        if rank != i && !out.contains(&rank) {
            out.push(rank);
        }
    }
    out
}

/// Every page cursor of a user's fans list, by walking it once.
async fn walk_cursors(api: &Api, user: &str) -> anyhow::Result<Vec<String>> {
    let mut cursors = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(c) => format!("/v1/users/{user}/fans?limit=1000&cursor={c}"),
            None => format!("/v1/users/{user}/fans?limit=1000"),
        };
        let page: Value = api.get(&path).await?;
        match page["next_cursor"].as_str() {
            Some(c) => {
                cursors.push(c.to_owned());
                next = Some(c.to_owned());
            }
            None => break,
        }
    }
    if cursors.is_empty() {
        bail!("celebrity 0 has at most one page of fans: load the graph first");
    }
    Ok(cursors)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
