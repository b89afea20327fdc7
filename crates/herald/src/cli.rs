//! Command-line interface. Every flag also reads a `HERALD_*` environment variable; flags win over the
//! environment, which wins over `herald.toml`, which wins over the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Herald: presence, status subscriptions and follows for chat and social apps, with a native HTTP + WebSocket
/// API and OpenIM-, RongCloud- and Tencent Cloud Chat-compatible APIs.
#[derive(Parser, Debug)]
#[command(name = "herald", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server. With no configuration it stores everything in ./herald-data and listens on 127.0.0.1:7400.
    Serve(ServeArgs),
    /// Print a client token for a registered user (for testing and for app servers that cannot call the API).
    /// Reads the installation that `serve` with the same --data (or --database-url) uses; prints only the token.
    Token(TokenArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Configuration file (TOML). Defaults to ./herald.toml when it exists.
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, HOST:PORT.
    #[arg(long, env = "HERALD_LISTEN")]
    pub listen: Option<String>,
    /// Data folder: the SQLite database and credentials.json live here.
    #[arg(long, env = "HERALD_DATA")]
    pub data: Option<PathBuf>,
    /// Seconds a closed connection keeps its platform online, so a quick reconnect emits nothing.
    #[arg(long, env = "HERALD_GRACE_SECS")]
    pub grace_secs: Option<f64>,
    /// Seconds of client silence after which a connection is dropped as timed out.
    #[arg(long, env = "HERALD_HEARTBEAT_TIMEOUT_SECS")]
    pub heartbeat_timeout_secs: Option<f64>,
    /// Cluster mode: keep apps, users, subscriptions and follows in this PostgreSQL database
    /// (postgres://user:password@host:port/db) instead of the embedded SQLite file.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The PostgreSQL schema for Herald's tables (created if absent); default: the server's search_path.
    #[arg(long, env = "HERALD_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Cluster mode: keep connection records in this Redis and carry events between nodes over its pub/sub
    /// (redis://host:port/db) instead of this process's memory.
    #[arg(long, env = "HERALD_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several clusters can share one Redis. Default "herald".
    #[arg(long, env = "HERALD_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Seconds a node stays alive in the others' eyes without a heartbeat (it sends one every third of this);
    /// after that a survivor, looking as often, takes its connections offline: within 4/3 of it. Default 30.
    #[arg(long, env = "HERALD_NODE_TTL_SECS")]
    pub node_ttl_secs: Option<f64>,
    /// Seconds over which a stopping server (SIGTERM, Ctrl-C) closes its WebSocket connections with 1012, so their
    /// clients do not all reconnect at once; queued webhooks get as long to go out. Default 10.
    #[arg(long, env = "HERALD_DRAIN_SECS")]
    pub drain_secs: Option<f64>,
    /// Log filter (tracing's EnvFilter syntax), e.g. "info" or "herald=debug".
    #[arg(long, env = "HERALD_LOG")]
    pub log: Option<String>,
    /// Log line format: "text" (default) or "json" (one object per line).
    #[arg(long, env = "HERALD_LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub server: ServeArgs,
    /// The app the token is for.
    #[arg(long, default_value = "default")]
    pub app: String,
    /// The user the token is for; it must be registered. With --tencent, defaults to the administrator.
    #[arg(long, required_unless_present = "tencent")]
    pub user: Option<String>,
    /// Print a Tencent Cloud Chat UserSig (signed with the app's Tencent secret key) instead of a native token.
    #[arg(long)]
    pub tencent: bool,
    /// The platform the token is bound to (ios android windows macos web miniweb linux androidpad ipad harmonyos).
    #[arg(long)]
    pub platform: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub ttl: i64,
    /// Create the data folder, the database and the default app when they do not exist yet, as a first `serve`
    /// does (the new credentials go to stderr). Without it, a data folder that does not exist is an error.
    #[arg(long)]
    pub init: bool,
}
