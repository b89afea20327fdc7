//! Presence fan-out. N subscribers hold WebSocket connections and watch M targets; every target connects and
//! disconnects `cycles` times, and each of those is one presence change that every watching subscriber must receive
//! exactly once.
//!
//! Each target also has a probe: a connection that watches only that target. A target waits for its probe to see
//! the change before making the next one, so every connect and every disconnect is a real change (online, then
//! offline) and the expected count per subscriber is exact: `2 * cycles` per watched target.
//!
//! Latency is measured per delivery as the subscriber's receipt time (wall clock, microseconds) minus the event's
//! `at` (the server's wall clock when it applied the change, milliseconds, same machine). `at` is truncated to the
//! millisecond, so each sample may read up to 1 ms high, never low.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::redis_ref;
use crate::api::{Api, run_prefix};
use crate::cli::{FanoutArgs, Target};
use crate::report::{Report, Row};
use crate::stats::{Samples, unix_micros};
use crate::ws::{self, PresenceFrame, Ws};

const PLATFORM: &str = "web";
/// How long a target waits for its probe to see one change before giving up on the run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Keep-alive for connections that only listen (the server drops clients silent for its heartbeat timeout).
const PING_EVERY: Duration = Duration::from_secs(15);

pub const HERALD_ROW: &str = "presence deliveries";

pub async fn run(target: &Target, args: &FanoutArgs) -> anyhow::Result<Report> {
    let api = Api::new(target)?;
    let prefix = run_prefix(target);
    let (n, m) = (args.subscribers, args.targets);
    if n == 0 || m == 0 || args.cycles == 0 {
        bail!("--subscribers, --targets and --cycles must be at least 1");
    }
    let k = args.per_subscriber.unwrap_or(m).clamp(1, m);
    let subscribers: Vec<String> = (0..n).map(|i| format!("{prefix}-s{i}")).collect();
    let targets: Vec<String> = (0..m).map(|j| format!("{prefix}-t{j}")).collect();
    let probes: Vec<String> = (0..m).map(|j| format!("{prefix}-p{j}")).collect();
    let watched = |i: usize| (0..k).map(move |x| (i + x) % m);

    eprintln!("fanout: registering {} users", n + 2 * m);
    let all: Vec<String> = subscribers.iter().chain(&targets).chain(&probes).cloned().collect();
    api.register(&all).await?;
    eprintln!("fanout: subscribing ({n} subscribers x {k} targets)");
    let mut pairs: Vec<(String, Vec<String>)> = subscribers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), watched(i).map(|j| targets[j].clone()).collect()))
        .collect();
    pairs.extend(probes.iter().zip(&targets).map(|(p, t)| (p.clone(), vec![t.clone()])));
    api.subscribe_all(pairs).await?;
    eprintln!("fanout: minting tokens");
    let tokens = api.tokens(&all).await?;
    let (sub_tokens, rest) = tokens.split_at(n);
    let (target_tokens, probe_tokens) = rest.split_at(m);

    eprintln!("fanout: connecting {n} subscribers");
    let ws_base = api.ws_base();
    let setup_started = Instant::now();
    let sockets: Vec<Ws> = stream::iter(sub_tokens)
        .map(|t| ws::connect(&ws_base, t, PLATFORM, None))
        .buffered(args.connect_concurrency.max(1))
        .try_collect()
        .await
        .context("connecting subscribers")?;
    let subscribers_connect_secs = setup_started.elapsed().as_secs_f64();
    let probe_sockets: Vec<Ws> = stream::iter(probe_tokens)
        .map(|t| ws::connect(&ws_base, t, PLATFORM, None))
        .buffered(args.connect_concurrency.max(1))
        .try_collect()
        .await
        .context("connecting probes")?;

    let index: Arc<HashMap<String, usize>> =
        Arc::new(targets.iter().enumerate().map(|(j, t)| (t.clone(), j)).collect());
    let progress = Arc::new(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(receive(socket, index.clone(), m, progress.clone(), started, stop_rx.clone())))
        .collect();

    eprintln!("fanout: {m} targets x {} cycles", args.cycles);
    let cyclers: Vec<_> = targets
        .iter()
        .zip(target_tokens)
        .zip(probe_sockets)
        .map(|((t, token), probe)| tokio::spawn(cycle(ws_base.clone(), token.clone(), t.clone(), probe, args.cycles)))
        .collect();
    let mut roundtrip = Samples::default();
    let mut target_errors = Vec::new();
    for c in cyclers {
        match c.await? {
            Ok(s) => roundtrip.merge(s),
            Err(e) => target_errors.push(e.to_string()),
        }
    }
    let changes_secs = started.elapsed().as_secs_f64();

    let expected_total = (n * k * 2 * args.cycles) as u64;
    let deadline = Instant::now() + Duration::from_secs(args.settle_secs);
    while progress.received.load(Ordering::Relaxed) < expected_total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);

    let mut latency = Samples::with_capacity(expected_total as usize);
    let (mut lost, mut duplicated, mut out_of_order, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    for (i, r) in receivers.into_iter().enumerate() {
        let tally = r.await?;
        latency.merge(tally.samples);
        dropped += u64::from(tally.closed_by_server);
        out_of_order += tally.repeats;
        for j in watched(i) {
            for got in tally.counts[j] {
                let expected = args.cycles as u64;
                lost += expected.saturating_sub(got as u64);
                duplicated += (got as u64).saturating_sub(expected);
            }
        }
        // Events of targets this subscriber does not watch are duplicates of nothing: count them as wrong too.
        for (j, counts) in tally.counts.iter().enumerate() {
            if !watched(i).any(|w| w == j) {
                duplicated += (counts[0] + counts[1]) as u64;
            }
        }
    }
    let received = progress.received.load(Ordering::Relaxed);
    let window = Duration::from_micros(progress.last_receipt_us.load(Ordering::Relaxed)).as_secs_f64();

    let mut report = Report::new("fanout");
    report.row(Row::herald(HERALD_ROW, received, window, latency.summary(), lost + duplicated));
    report.row(Row::herald(
        "target connect -> probe receipt",
        roundtrip.len() as u64,
        changes_secs,
        roundtrip.summary(),
        0,
    ));
    report.fact("subscribers", n as u64);
    report.fact("targets", m as u64);
    report.fact("targets per subscriber", k as u64);
    report.fact("presence changes", (m * 2 * args.cycles) as u64);
    report.fact("deliveries expected", expected_total);
    report.fact("deliveries received", received);
    report.fact("lost", lost);
    report.fact("duplicated or unexpected", duplicated);
    report.fact("same state twice in a row", out_of_order);
    report.fact("subscribers closed by the server", dropped);
    report.fact("subscribers connect time (s)", round2(subscribers_connect_secs));
    report.fact("latency measured as", "subscriber receipt (wall clock) - event `at` (server clock, ms)");
    if !target_errors.is_empty() {
        report.fact("target errors", target_errors.join("; "));
    }
    if !target.no_redis {
        let reference =
            redis_ref::fanout(&target.redis, &prefix, n.min(args.redis_subscribers).max(1), n, m, k, 2 * args.cycles)
                .await;
        match reference {
            Ok(row) => report.row(row),
            Err(e) => report.fact("redis reference", format!("failed: {e:#}")),
        }
    }
    Ok(report)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Default)]
struct Progress {
    received: AtomicU64,
    /// Microseconds from the start of the changes to the latest receipt.
    last_receipt_us: AtomicU64,
}

struct Tally {
    /// Per target index: [online, offline] events received.
    counts: Vec<[u32; 2]>,
    /// Times a target's event repeated the state of its previous one (a duplicate or a reordering).
    repeats: u64,
    closed_by_server: bool,
    samples: Samples,
}

/// One subscriber: count and time every presence frame until told to stop.
async fn receive(
    mut socket: Ws,
    index: Arc<HashMap<String, usize>>,
    targets: usize,
    progress: Arc<Progress>,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let mut tally =
        Tally { counts: vec![[0; 2]; targets], repeats: 0, closed_by_server: false, samples: Samples::default() };
    let mut last_state = vec![0u8; targets];
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let now = unix_micros();
                    let Some(f) = PresenceFrame::parse(text.as_str()) else { continue };
                    let Some(&j) = index.get(f.user_id) else { continue };
                    tally.samples.record_micros(now - f.at * 1000);
                    let state = if f.online { 1 } else { 2 };
                    if last_state[j] == state {
                        tally.repeats += 1;
                    }
                    last_state[j] = state;
                    tally.counts[j][usize::from(!f.online)] += 1;
                    progress.received.fetch_add(1, Ordering::Relaxed);
                    progress.last_receipt_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    tally.closed_by_server = true;
                    break;
                }
            },
            _ = ping.tick() => {
                let _ = socket.send(Message::Ping(Default::default())).await;
            }
            _ = stop.changed() => break,
        }
    }
    let _ = socket.close(None).await;
    tally
}

/// One target: connect, wait for the probe to see it online; disconnect, wait for the probe to see it offline.
/// Returns the client-side time from starting the change to the probe's receipt.
async fn cycle(ws_base: String, token: String, user: String, mut probe: Ws, cycles: usize) -> anyhow::Result<Samples> {
    let mut samples = Samples::with_capacity(2 * cycles);
    for _ in 0..cycles {
        let t0 = Instant::now();
        let mut socket = ws::connect(&ws_base, &token, PLATFORM, None).await?;
        wait_for(&mut probe, &user, true).await?;
        samples.record(t0.elapsed());
        let t1 = Instant::now();
        socket.close(None).await?;
        wait_for(&mut probe, &user, false).await?;
        samples.record(t1.elapsed());
    }
    let _ = probe.close(None).await;
    Ok(samples)
}

async fn wait_for(probe: &mut Ws, user: &str, online: bool) -> anyhow::Result<()> {
    let wait = async {
        while let Some(frame) = probe.next().await {
            if let Message::Text(text) = frame?
                && let Some(f) = PresenceFrame::parse(text.as_str())
                && f.user_id == user
                && f.online == online
            {
                return Ok(());
            }
        }
        bail!("probe of {user} closed")
    };
    tokio::time::timeout(PROBE_TIMEOUT, wait)
        .await
        .with_context(|| format!("probe of {user}: no change within 30 s"))?
}
