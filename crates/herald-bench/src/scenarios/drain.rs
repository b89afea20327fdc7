//! A restart under load: N clients connected to a single node, SIGTERM, the node drains (1012 spread over its
//! drain window) and a successor starts on the same data folder and port; the clients reconnect with jittered
//! backoff. Measured: how long the drain takes, how fast everyone is back, and how many presence changes the app
//! server's webhook saw because of the restart (none when everyone came back within the allowance).
//!
//! Unlike the other scenarios this one runs the server itself (`--herald`, the binary to start), since it has to
//! stop and restart it.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::api::Api;
use crate::cli::{DrainArgs, Target};
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::ws;

const PLATFORM: &str = "web";
/// Longest a client keeps trying to reconnect.
const RECONNECT_GIVE_UP: Duration = Duration::from_secs(120);

pub async fn run(target: &Target, args: &DrainArgs) -> anyhow::Result<Report> {
    let n = args.connections;
    if n == 0 {
        bail!("--connections must be at least 1");
    }
    let data = std::env::temp_dir().join(format!("herald-bench-drain-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&data)?;
    let result = measure(target, args, &data).await;
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn measure(target: &Target, args: &DrainArgs, data: &Path) -> anyhow::Result<Report> {
    let n = args.connections;
    let hooks = Arc::new(AtomicU64::new(0));
    let hook_url = webhook_receiver(hooks.clone()).await?;
    let port = free_port()?;
    let config = data.join("herald.toml");
    std::fs::write(
        &config,
        format!(
            "[presence]\ngrace_secs = {}\ndrain_secs = {}\nrestart_grace_secs = {}\n\n[default_app.webhooks]\n\
             native_url = \"{hook_url}\"\n\n[default_app.limits]\nmax_connections_per_user = 4\n",
            args.grace_secs, args.drain_secs, args.restart_grace_secs
        ),
    )?;
    let start = || start_server(&args.herald, data, &config, port);

    eprintln!("drain: starting {}", args.herald.display());
    let mut first = start().await?;
    let target = Target {
        server: format!("http://127.0.0.1:{port}"),
        api_key: None,
        credentials: Some(data.join("credentials.json")),
        ..target.clone()
    };
    let api = Api::new(&target)?;
    let ids: Vec<String> = (0..n).map(|i| format!("drain-{i}")).collect();
    eprintln!("drain: registering and connecting {n} clients");
    api.register(&ids).await?;
    let tokens = api.tokens(&ids).await?;
    let ws_base = api.ws_base();
    let sockets: Vec<ws::Ws> = stream::iter(&tokens)
        .map(|t| ws::connect(&ws_base, t, PLATFORM, None))
        .buffered(args.connect_concurrency.max(1))
        .try_collect()
        .await
        .context("connecting the clients")?;
    // Every client's connect reaches the webhook; wait for them, so that what comes later is the restart's doing.
    wait_for(&hooks, n as u64, Duration::from_secs(60)).await;
    let before = hooks.load(Ordering::SeqCst);

    let (stop_tx, stop_rx) = watch::channel(false);
    let back = Arc::new(AtomicU64::new(0));
    let signalled = Instant::now();
    let clients: Vec<_> = sockets
        .into_iter()
        .zip(tokens)
        .map(|(socket, token)| {
            let backoff =
                (Duration::from_secs_f64(args.backoff_base_secs), Duration::from_secs_f64(args.backoff_max_secs));
            let client = Client { ws_base: ws_base.clone(), token, backoff, signalled, back: back.clone() };
            tokio::spawn(client.run(socket, stop_rx.clone()))
        })
        .collect();
    eprintln!("drain: SIGTERM");
    signal_term(&first)?;
    first.wait().await?;
    let exited = signalled.elapsed();
    let mut successor = start().await?;
    let restarted = signalled.elapsed();
    eprintln!("drain: successor up after {:.2} s", restarted.as_secs_f64());

    // Every client stays connected until the run ends: wait until all are back (or give up), then past the
    // allowance, since the changes a lost client causes come when it runs out; only then count and stop them.
    let deadline = Instant::now() + RECONNECT_GIVE_UP;
    while back.load(Ordering::SeqCst) < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet = Duration::from_secs_f64(args.restart_grace_secs + args.grace_secs) + Duration::from_secs(2);
    tokio::time::sleep(quiet).await;
    let emitted = hooks.load(Ordering::SeqCst) - before;
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::with_capacity(n);
    for c in clients {
        outcomes.push(c.await?);
    }
    signal_term(&successor)?;
    let _ = tokio::time::timeout(Duration::from_secs(30), successor.wait()).await;

    let mut closes = Samples::with_capacity(n);
    let mut reconnects = Samples::with_capacity(n);
    let (mut codes_1012, mut reconnected, mut refused) = (0u64, 0u64, 0u64);
    let mut last_close = Duration::ZERO;
    let mut all_back = Duration::ZERO;
    for o in &outcomes {
        if let Some(at) = o.closed_at {
            closes.record(at);
            last_close = last_close.max(at);
        }
        codes_1012 += u64::from(o.close_code == Some(1012));
        refused += o.refused_attempts;
        if let Some(at) = o.reconnected_at {
            reconnected += 1;
            reconnects.record(at);
            all_back = all_back.max(at);
        }
    }

    let mut report = Report::new("drain");
    report.fact("connections", n as u64);
    report.fact("drain window (s)", args.drain_secs);
    report.fact("closed with 1012", codes_1012);
    report.fact("SIGTERM -> last close (s)", round2(last_close.as_secs_f64()));
    report.fact("SIGTERM -> process exit (s)", round2(exited.as_secs_f64()));
    report.fact("SIGTERM -> successor listening (s)", round2(restarted.as_secs_f64()));
    report.fact("SIGTERM -> all reconnected (s)", round2(all_back.as_secs_f64()));
    report.fact("reconnected", reconnected);
    report.fact("reconnect attempts refused (server down or draining)", refused);
    report.fact("presence webhooks caused by the restart", emitted);
    report.fact("load average", crate::server::load_average());
    let closed = closes.len() as u64;
    report.row(Row::herald("close (from SIGTERM)", closed, last_close.as_secs_f64(), closes.summary(), 0));
    let lost = n as u64 - reconnected;
    report.row(Row::herald(
        "reconnect (from SIGTERM)",
        reconnected,
        all_back.as_secs_f64(),
        reconnects.summary(),
        lost,
    ));
    Ok(report)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What one client saw: when (after the signal) it was closed and with which code, when it was back.
#[derive(Default)]
struct ClientOutcome {
    closed_at: Option<Duration>,
    close_code: Option<u16>,
    reconnected_at: Option<Duration>,
    refused_attempts: u64,
}

struct Client {
    ws_base: String,
    token: String,
    /// Exponential backoff with full jitter between reconnect attempts: (first ceiling, largest ceiling).
    backoff: (Duration, Duration),
    signalled: Instant,
    /// Clients connected again.
    back: Arc<AtomicU64>,
}

impl Client {
    async fn run(self, mut socket: ws::Ws, mut stop: watch::Receiver<bool>) -> ClientOutcome {
        let mut outcome = ClientOutcome::default();
        // Read until the server closes the socket.
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Close(frame))) => {
                        outcome.close_code = frame.map(|f| u16::from(f.code));
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                },
                _ = stop.changed() => return outcome,
            }
        }
        outcome.closed_at = Some(self.signalled.elapsed());
        drop(socket);
        let (mut ceiling, max) = self.backoff;
        loop {
            let wait = ceiling.mul_f64(rand::random::<f64>());
            ceiling = (ceiling * 2).min(max);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return outcome,
            }
            match ws::connect(&self.ws_base, &self.token, PLATFORM, None).await {
                Ok(socket) => {
                    outcome.reconnected_at = Some(self.signalled.elapsed());
                    self.back.fetch_add(1, Ordering::SeqCst);
                    // Stay connected until the run ends.
                    let _ = stop.changed().await;
                    drop(socket);
                    return outcome;
                }
                Err(_) => outcome.refused_attempts += 1,
            }
        }
    }
}

async fn start_server(bin: &Path, data: &Path, config: &Path, port: u16) -> anyhow::Result<Child> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("HERALD_LOG", std::env::var("HERALD_LOG").unwrap_or_else(|_| "warn".to_owned()))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("herald listening on ") {
                return Ok(());
            }
        }
        bail!("the server exited before it listened")
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.context("the server did not listen within 60 s")??;
    // Keep draining its stdout, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(child)
}

fn signal_term(child: &Child) -> anyhow::Result<()> {
    let pid = child.id().context("the server has exited")?;
    // SAFETY: kill(2) with a PID of a child we started and still own.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
        bail!("could not signal the server: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An app server's webhook endpoint that counts the presence changes it is told about.
async fn webhook_receiver(count: Arc<AtomicU64>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let count = count.clone();
            async move {
                let event = headers.get("x-herald-event").and_then(|v| v.to_str().ok());
                if event == Some("presence.changed") {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn wait_for(counter: &AtomicU64, at_least: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while counter.load(Ordering::SeqCst) < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
