//! Idle connections: how much resident memory the server spends per open WebSocket, and how fast it accepts them.
//!
//! The connections come from several worker processes (this binary re-executed with the hidden
//! `connections-worker` subcommand), so each stays under its open-file limit, and each binds its sockets to
//! several source addresses (127.0.0.2, 127.0.0.3, ...) before connecting, so no single address runs out of
//! ephemeral ports. Parent and workers talk over the workers' stdin/stdout, one JSON line per step:
//! the worker mints its tokens and says `ready`; the parent reads the server's VmRSS and says `go`; the worker
//! connects and reports; the parent holds, reads VmRSS again, and says `exit`.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::api::{Api, run_prefix};
use crate::cli::{ConnectionsArgs, Target, WorkerArgs};
use crate::report::{Report, Row};
use crate::server;
use crate::stats::Samples;
use crate::ws::{self, Ws};

/// Descriptors a worker keeps for itself (runtime, HTTP pool, stdio) under its open-file limit.
const FD_HEADROOM: u64 = 200;

#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum WorkerLine {
    Ready { nofile: u64 },
    Connected { opened: u64, failed: u64, secs: f64, first_error: Option<String>, connect_micros: Vec<u32> },
}

pub async fn run(target: &Target, args: &ConnectionsArgs) -> anyhow::Result<Report> {
    let api = Api::new(target)?;
    let prefix = run_prefix(target);
    let count = args.count;
    let pid = match args.server_pid {
        Some(pid) => pid,
        None => server::pid_listening_on(server::port_of(&api.base)?)?,
    };
    let own_nofile = server::nofile_limit();
    let per_process = own_nofile.saturating_sub(FD_HEADROOM).max(1) as usize;
    // At least two workers once one would be past half its limit, so no worker runs at the edge.
    let processes = args.processes.unwrap_or_else(|| count.div_ceil(per_process / 2).max(1)).max(1);
    if count.div_ceil(processes) > per_process {
        bail!("{processes} workers of {per_process} connections each cannot open {count}: raise --processes");
    }
    let sources: Vec<String> =
        (0..args.source_addrs.max(1)).map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8).to_string()).collect();

    eprintln!("connections: registering {count} users");
    let ids: Vec<String> = (0..count).map(|i| format!("{prefix}-c{i}")).collect();
    api.register(&ids).await?;

    eprintln!("connections: starting {processes} workers");
    let exe = std::env::current_exe()?;
    let mut workers = Vec::new();
    for w in 0..processes {
        let (from, to) = (count * w / processes, count * (w + 1) / processes);
        let mut child = Command::new(&exe)
            .args(["--server", &api.base, "--api-key", &api.api_key, "--prefix", &prefix, "connections-worker"])
            .args(["--from", &from.to_string(), "--to", &to.to_string(), "--source-ips", &sources.join(",")])
            .args(["--connect-concurrency", &args.connect_concurrency.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("worker stdout")?);
        workers.push(Worker { child, stdin: Some(stdin), stdout });
    }
    let mut worker_nofile = Vec::new();
    for w in &mut workers {
        match w.read().await? {
            WorkerLine::Ready { nofile } => worker_nofile.push(nofile),
            _ => bail!("worker spoke out of turn"),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server::rss_bytes(pid)?;

    let started = Instant::now();
    for w in &mut workers {
        w.say("go").await?;
    }
    let (mut opened, mut failed, mut window, mut errors) = (0u64, 0u64, 0f64, Vec::new());
    let mut latency = Samples::default();
    for w in &mut workers {
        match w.read().await? {
            WorkerLine::Connected { opened: o, failed: f, secs, first_error, connect_micros } => {
                opened += o;
                failed += f;
                window = window.max(secs);
                errors.extend(first_error);
                connect_micros.into_iter().for_each(|us| latency.record_micros(us as i64));
            }
            _ => bail!("worker spoke out of turn"),
        }
    }
    let total_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.hold_secs)).await;
    let rss_after = server::rss_bytes(pid)?;
    let server_conns_fd = count_socket_fds(pid);

    for w in &mut workers {
        w.stdin.take();
    }
    for w in &mut workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w.child.wait()).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_released = server::rss_bytes(pid).ok();

    let mut report = Report::new("connections");
    report.row(Row::herald("websocket connects", opened, total_secs.max(window), latency.summary(), failed));
    let per_conn = if opened > 0 { rss_after.saturating_sub(rss_before) as f64 / opened as f64 } else { 0.0 };
    report.fact("connections requested", count as u64);
    report.fact("connections open", opened);
    report.fact("failed", failed);
    if let Some(e) = errors.first() {
        report.fact("first error", e.clone());
    }
    report.fact("server pid", pid);
    report.fact(
        "server open-file limit",
        server::process_nofile(pid).map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
    );
    report.fact("server socket descriptors while held", server_conns_fd);
    report.fact("client processes", processes as u64);
    report.fact("client open-file limit per process", worker_nofile.first().copied().unwrap_or(own_nofile));
    report.fact("source addresses", sources.join(" "));
    report.fact("server VmRSS before (KiB)", rss_before / 1024);
    report.fact("server VmRSS with connections (KiB)", rss_after / 1024);
    if let Some(r) = rss_released {
        report.fact("server VmRSS after they closed (KiB)", r / 1024);
    }
    report.fact("server memory per connection (bytes)", per_conn.round());
    Ok(report)
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    async fn read(&mut self) -> anyhow::Result<WorkerLine> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line).await? == 0 {
            bail!("a worker exited early");
        }
        serde_json::from_str(&line).with_context(|| format!("worker said {line:?}"))
    }

    async fn say(&mut self, word: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("worker stdin closed")?;
        stdin.write_all(format!("{word}\n").as_bytes()).await?;
        Ok(stdin.flush().await?)
    }
}

fn count_socket_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count() as u64
        })
        .unwrap_or(0)
}

/// The worker side: mint tokens, wait for `go`, connect, report, hold until stdin closes.
pub async fn worker(target: &Target, args: &WorkerArgs) -> anyhow::Result<()> {
    let api = Api::new(target)?;
    let prefix = run_prefix(target);
    let sources: Vec<IpAddr> = args.source_ips.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let ids: Vec<String> = (args.from..args.to).map(|i| format!("{prefix}-c{i}")).collect();
    let tokens = api.tokens(&ids).await?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    say(&WorkerLine::Ready { nofile: server::nofile_limit() })?;
    if stdin.next_line().await?.as_deref() != Some("go") {
        return Ok(());
    }
    let ws_base = api.ws_base();
    let started = Instant::now();
    let results: Vec<(Result<Ws, anyhow::Error>, u32)> = futures_util::stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let (ws_base, source) = (&ws_base, sources[i % sources.len()]);
            async move {
                let t0 = Instant::now();
                let r = ws::connect(ws_base, token, "web", Some(source)).await;
                (r, t0.elapsed().as_micros() as u32)
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let (mut held, mut failed, mut first_error, mut connect_micros) = (Vec::new(), 0, None, Vec::new());
    for (r, us) in results {
        match r {
            Ok(ws) => {
                held.push(ws);
                connect_micros.push(us);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    say(&WorkerLine::Connected { opened: held.len() as u64, failed, secs, first_error, connect_micros })?;
    // Hold until the parent closes our stdin.
    while stdin.next_line().await?.is_some() {}
    drop(held);
    Ok(())
}

fn say(line: &WorkerLine) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(line)?)?;
    Ok(out.flush()?)
}
