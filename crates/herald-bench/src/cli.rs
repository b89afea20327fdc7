//! Command-line flags: the server to drive, and one subcommand per scenario with its knobs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Load generator for a RUNNING Herald server. Every scenario registers its own users (under a fresh prefix, so
/// runs never disturb each other), drives the server over real HTTP and WebSocket connections, and prints a table
/// (or JSON with --json). Unless --no-redis is given, the same run measures Redis doing the equivalent raw work,
/// so Herald's numbers read as a ratio to a well-known fast system.
///
/// Start the server to measure with, for example:
///   herald serve --data /tmp/hb --listen 127.0.0.1:7400 --config crates/herald-bench/bench.toml
/// which sets `[presence] grace_secs = 0` (so every connect and disconnect is a change) and raises
/// `[default_app.limits]` (see the comments in that file, and the Benchmarks section of the README).
///
/// Scenarios:
///   fanout       N subscribers on WebSocket watch M targets that connect and disconnect in a loop: deliveries/s,
///                delivery latency, and an exact lost/duplicated count per subscriber.
///   connections  C idle WebSocket connections from several worker processes and source addresses: the server's
///                resident memory per connection and the connect rate.
///   api          concurrent HTTP clients on the hot calls (batch status query, subscribe, follow pages, and with
///                --credentials each vendor dialect's hot calls): req/s and latency.
///   graph        loads a power-law follow graph (>= 1,000,000 edges) and measures fans/following/mutual pages and
///                relationship checks.
///   drain        starts a server itself (--herald), connects C clients, sends SIGTERM and starts a successor on
///                the same data: drain time, reconnect time, and the presence changes the restart caused.
#[derive(Parser, Debug)]
#[command(name = "herald-bench", version, verbatim_doc_comment)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The server under test and the reference Redis.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Base URL of the running Herald server.
    #[arg(long, global = true, default_value = "http://127.0.0.1:7400")]
    pub server: String,
    /// The server's credentials.json (as written to its data folder on first start).
    #[arg(long, global = true, env = "HERALD_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// The native API key; read from --credentials when not given.
    #[arg(long, global = true, env = "HERALD_API_KEY")]
    pub api_key: Option<String>,
    /// Redis for the reference measurements.
    #[arg(long, global = true, default_value = "redis://127.0.0.1:6379/")]
    pub redis: String,
    /// Skip the Redis reference measurements.
    #[arg(long, global = true)]
    pub no_redis: bool,
    /// Prefix of the user IDs this run creates; a random one by default. Reuse one to reuse loaded data
    /// (graph --skip-load).
    #[arg(long, global = true)]
    pub prefix: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Presence fan-out: N WebSocket subscribers of M targets that connect and disconnect in a loop.
    Fanout(FanoutArgs),
    /// Idle WebSocket connections: server memory per connection and connect rate.
    Connections(ConnectionsArgs),
    /// HTTP API throughput of the hot calls.
    Api(ApiArgs),
    /// Follow graph: load a power-law graph, then page fans/following/mutual and check relationships.
    Graph(GraphArgs),
    /// A restart under load: SIGTERM a server it started, start a successor, count what subscribers would see.
    Drain(DrainArgs),
    /// Internal: one client process of the `connections` scenario.
    #[command(hide = true)]
    ConnectionsWorker(WorkerArgs),
}

#[derive(Args, Debug)]
pub struct FanoutArgs {
    /// Subscribers, each on its own WebSocket connection.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Targets that connect and disconnect in a loop.
    #[arg(long, default_value_t = 1)]
    pub targets: usize,
    /// Targets each subscriber watches (round-robin over the targets); all of them by default.
    #[arg(long)]
    pub per_subscriber: Option<usize>,
    /// Connect/disconnect cycles per target; each cycle is two presence changes (online, offline).
    #[arg(long, default_value_t = 20)]
    pub cycles: usize,
    /// WebSocket connections opened at once while setting up.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// How long to wait for the last deliveries after the targets stop.
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// Redis pub/sub subscriber connections of the reference run (at most --subscribers).
    #[arg(long, default_value_t = 2000)]
    pub redis_subscribers: usize,
}

#[derive(Args, Debug)]
pub struct ConnectionsArgs {
    /// Idle WebSocket connections to open.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Client processes to spread them over (each stays under its open-file limit); derived from the limit when
    /// not given.
    #[arg(long)]
    pub processes: Option<usize>,
    /// Source addresses 127.0.0.2, 127.0.0.3, ... to spread the connections over (one address has ~28k ports).
    #[arg(long, default_value_t = 4)]
    pub source_addrs: usize,
    /// PID of the server, for its memory; found from the process listening on the server's port when not given.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Connections each worker opens at once.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Seconds to hold the connections open before measuring memory.
    #[arg(long, default_value_t = 2.0)]
    pub hold_secs: f64,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// First user index of this worker.
    #[arg(long)]
    pub from: usize,
    /// One past the last user index.
    #[arg(long)]
    pub to: usize,
    /// Source IPs to bind, comma-separated.
    #[arg(long)]
    pub source_ips: String,
    #[arg(long)]
    pub connect_concurrency: usize,
}

#[derive(Args, Debug)]
pub struct ApiArgs {
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds each call is measured for. The calls are measured one after another, then Redis's reference for
    /// as long again, after a setup that registers --users users: with --credentials (9 calls) a run takes about
    /// 10 x --secs plus the setup (3 s: about 40 s).
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Registered users the calls pick from.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Users named per batch call.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Calls to measure, comma-separated (default: all the server speaks). Native: presence-query, subscribe,
    /// fans-page, following-page. Dialects: openim-status, rongcloud-check-online, rongcloud-subscribe,
    /// tencent-query-status, tencent-follow-get.
    #[arg(long, value_delimiter = ',')]
    pub calls: Vec<String>,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Users in the graph.
    #[arg(long, default_value_t = 600_000)]
    pub users: usize,
    /// Fans of each celebrity (users 0, 1, ...), comma-separated: the heavy head of the power law.
    #[arg(long, value_delimiter = ',', default_value = "500000,200000,100000")]
    pub celebrity_fans: Vec<usize>,
    /// Further follows per user, drawn from a power law (Zipf, s = 1) over all users: the long tail.
    #[arg(long, default_value_t = 1)]
    pub extra_follows: usize,
    /// Fans the first celebrity follows back (its mutual list).
    #[arg(long, default_value_t = 1000)]
    pub follow_back: usize,
    /// Concurrent follow calls while loading.
    #[arg(long, default_value_t = 32)]
    pub load_concurrency: usize,
    /// Reuse a graph loaded earlier under the same --prefix.
    #[arg(long)]
    pub skip_load: bool,
    /// Concurrent clients while querying.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds each query is measured for, one query after another (and each Redis reference for as long).
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
}

#[derive(Args, Debug)]
pub struct DrainArgs {
    /// The herald binary to start (twice: the server, then its successor on the same data folder and port).
    #[arg(long, default_value = "target/release/herald")]
    pub herald: PathBuf,
    /// Clients, each one WebSocket connection of its own user.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// `[presence] drain_secs` of the server: the window its closes are spread over.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// `[presence] grace_secs` of the server.
    #[arg(long, default_value_t = 3.0)]
    pub grace_secs: f64,
    /// `[presence] restart_grace_secs` of the server: how long after the restart the clients have to come back.
    #[arg(long, default_value_t = 15.0)]
    pub restart_grace_secs: f64,
    /// A client's reconnect backoff: attempt k waits a uniformly drawn time (full jitter) up to
    /// min(--backoff-max-secs, --backoff-base-secs x 2^k), as a well-behaved client does.
    #[arg(long, default_value_t = 0.5)]
    pub backoff_base_secs: f64,
    #[arg(long, default_value_t = 8.0)]
    pub backoff_max_secs: f64,
    /// WebSocket connections opened at once while setting up.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
}
