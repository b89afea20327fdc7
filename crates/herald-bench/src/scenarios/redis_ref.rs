//! Redis doing the raw work equivalent to each Herald measurement, through the tool's own Redis client, so the
//! report can show Herald as a ratio to a well-known fast system. Keys live under the run's prefix and are deleted
//! afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use crate::report::Row;
use crate::stats::{Samples, unix_micros};

/// Bytes of a published message: about the size of Herald's PRESENCE frame.
const PAYLOAD_BYTES: usize = 200;

async fn connection(url: &str) -> anyhow::Result<(redis::Client, MultiplexedConnection)> {
    let client = redis::Client::open(url)?;
    let conn = client.get_multiplexed_async_connection().await.with_context(|| format!("connecting to {url}"))?;
    Ok((client, conn))
}

/// Fan-out through pub/sub: per change, SMEMBERS of the target's subscriber set (`set_size` members, as a
/// store-backed fan-out would read) and one PUBLISH on the target's channel, which `subscribers` pub/sub
/// connections (each on `per_subscriber` of the `targets` channels) receive.
pub async fn fanout(
    url: &str,
    prefix: &str,
    subscribers: usize,
    set_size: usize,
    targets: usize,
    per_subscriber: usize,
    changes_per_target: usize,
) -> anyhow::Result<Row> {
    let (client, mut conn) = connection(url).await?;
    let set = |j: usize| format!("{prefix}:subs:{j}");
    let channel = |j: usize| format!("{prefix}:ch:{j}");
    for j in 0..targets {
        let members: Vec<String> = (0..set_size).map(|i| format!("{prefix}-s{i}")).collect();
        for chunk in members.chunks(10_000) {
            let _: () = conn.sadd(set(j), chunk).await?;
        }
    }

    let received = Arc::new(AtomicU64::new(0));
    let last_us = Arc::new(AtomicU64::new(0));
    let expected_each = (per_subscriber * changes_per_target) as u64;
    let mut pubsubs = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let mut ps = client.get_async_pubsub().await?;
        for x in 0..per_subscriber {
            ps.subscribe(channel((i + x) % targets)).await?;
        }
        pubsubs.push(ps);
    }
    let started = Instant::now();
    let readers: Vec<_> = pubsubs
        .into_iter()
        .map(|mut ps| {
            let (received, last_us) = (received.clone(), last_us.clone());
            tokio::spawn(async move {
                let mut samples = Samples::with_capacity(expected_each as usize);
                let mut messages = ps.on_message();
                let mut got = 0;
                while got < expected_each {
                    let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(30), messages.next()).await else {
                        break;
                    };
                    let now = unix_micros();
                    let sent: i64 = std::str::from_utf8(&msg.get_payload_bytes()[..16])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(now);
                    samples.record_micros(now - sent);
                    got += 1;
                    received.fetch_add(1, Ordering::Relaxed);
                    last_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
                samples
            })
        })
        .collect();
    let publishers: Vec<_> = (0..targets)
        .map(|j| {
            let (mut conn, set, channel) = (conn.clone(), set(j), channel(j));
            tokio::spawn(async move {
                for _ in 0..changes_per_target {
                    let _members: Vec<String> = conn.smembers(&set).await?;
                    let payload = format!("{:016}{}", unix_micros(), "x".repeat(PAYLOAD_BYTES - 16));
                    let _: i64 = conn.publish(&channel, payload).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for p in publishers {
        p.await??;
    }
    let mut latency = Samples::default();
    for r in readers {
        latency.merge(r.await?);
    }
    for j in 0..targets {
        let _: () = conn.del(set(j)).await?;
    }
    let ops = received.load(Ordering::Relaxed);
    let secs = Duration::from_micros(last_us.load(Ordering::Relaxed)).as_secs_f64();
    Ok(Row::redis("SMEMBERS + PUBLISH deliveries", super::fanout::HERALD_ROW, ops, secs, latency.summary()))
}

/// Run `op` from `concurrency` tasks (each with its own connection) for `secs`, timing every call.
pub async fn closed_loop<F, Fut>(url: &str, concurrency: usize, secs: f64, op: F) -> anyhow::Result<(u64, f64, Samples)>
where
    F: Fn(MultiplexedConnection, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = redis::RedisResult<MultiplexedConnection>> + Send,
{
    let client = redis::Client::open(url)?;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut i = t as u64 * 1_000_003;
            while Instant::now() < until {
                let t0 = Instant::now();
                conn = op(conn, i).await?;
                samples.record(t0.elapsed());
                i += 1;
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        all.merge(t.await??);
    }
    Ok((all.len() as u64, started.elapsed().as_secs_f64(), all))
}

/// MGET of `batch` status keys out of `users`, the raw work of a batch status query.
pub async fn mget(
    url: &str,
    prefix: &str,
    users: usize,
    batch: usize,
    concurrency: usize,
    secs: f64,
    herald_row: &str,
) -> anyhow::Result<Row> {
    let (_, mut conn) = connection(url).await?;
    let key = |i: usize| format!("{prefix}:status:{i}");
    let pairs: Vec<(String, String)> =
        (0..users).map(|i| (key(i), r#"{"online":true,"platforms":["web"],"at":1700000000000}"#.to_owned())).collect();
    for chunk in pairs.chunks(5000) {
        let _: () = conn.mset(chunk).await?;
    }
    let prefix2 = prefix.to_owned();
    let (ops, secs, samples) = closed_loop(url, concurrency, secs, move |mut conn, i| {
        let keys: Vec<String> = (0..batch).map(|x| format!("{prefix2}:status:{}", pick(i, x, users))).collect();
        async move {
            let _: Vec<Option<String>> = conn.mget(keys).await?;
            Ok(conn)
        }
    })
    .await?;
    for chunk in (0..users).collect::<Vec<_>>().chunks(5000) {
        let keys: Vec<String> = chunk.iter().map(|&i| key(i)).collect();
        let _: () = conn.del(keys).await?;
    }
    Ok(Row::redis(format!("MGET {batch} keys"), herald_row, ops, secs, samples.summary()))
}

/// A sorted set of `fans` members (score = follow time), paged 100 at a time by score, and SMISMEMBER of 100:
/// the raw work of a fans page and of a relationship check.
pub async fn graph(
    url: &str,
    prefix: &str,
    fans: usize,
    concurrency: usize,
    secs: f64,
    page_row: &str,
    check_row: &str,
) -> anyhow::Result<Vec<Row>> {
    let (_, mut conn) = connection(url).await?;
    let zkey = format!("{prefix}:fans");
    let skey = format!("{prefix}:fanset");
    for chunk in (0..fans).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<(i64, String)> = chunk.iter().map(|&i| (i as i64, format!("{prefix}-g{i}"))).collect();
        let members: Vec<&String> = items.iter().map(|(_, m)| m).collect();
        let _: () = conn.zadd_multiple(&zkey, &items).await?;
        let _: () = conn.sadd(&skey, members).await?;
    }
    let mut rows = Vec::new();
    let z = zkey.clone();
    let (ops, s, samples) = closed_loop(url, concurrency, secs, move |mut conn, i| {
        let (z, from) = (z.clone(), pick(i, 0, fans.saturating_sub(100).max(1)));
        async move {
            let _: Vec<String> = redis::cmd("ZRANGE")
                .arg(&z)
                .arg(from)
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(100)
                .query_async(&mut conn)
                .await?;
            Ok(conn)
        }
    })
    .await?;
    rows.push(Row::redis("ZRANGE BYSCORE LIMIT 100", page_row, ops, s, samples.summary()));
    let (sk, p) = (skey.clone(), prefix.to_owned());
    let (ops, s, samples) = closed_loop(url, concurrency, secs, move |mut conn, i| {
        let members: Vec<String> = (0..100).map(|x| format!("{p}-g{}", pick(i, x, fans * 2))).collect();
        let sk = sk.clone();
        async move {
            let _: Vec<bool> = redis::cmd("SMISMEMBER").arg(&sk).arg(members).query_async(&mut conn).await?;
            Ok(conn)
        }
    })
    .await?;
    rows.push(Row::redis("SMISMEMBER 100", check_row, ops, s, samples.summary()));
    let _: () = conn.del(&[zkey, skey]).await?;
    Ok(rows)
}

/// A cheap, well-spread pseudo-random index for call `i`, item `x`, in `0..n`.
pub fn pick(i: u64, x: usize, n: usize) -> usize {
    let mut h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 29;
    (h % n.max(1) as u64) as usize
}
