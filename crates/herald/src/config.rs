//! The effective configuration: defaults, then `herald.toml`, then `HERALD_*` variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use herald_core::App;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cli::ServeArgs;
use crate::telemetry::LogFormat;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";
pub const DEFAULT_DATA: &str = "herald-data";
const DEFAULT_DRAIN_SECS: f64 = 10.0;
const DEFAULT_RESTART_GRACE_SECS: f64 = 15.0;

/// `herald.toml`. Every field is optional.
#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub log: Option<String>,
    /// "text" or "json".
    pub log_format: Option<String>,
    /// PostgreSQL URL: cluster mode's shared store.
    pub database_url: Option<String>,
    pub database_schema: Option<String>,
    /// Redis URL: cluster mode's shared presence registry and bus.
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub presence: PresenceSection,
    pub http: HttpSection,
    pub storage: StorageSection,
    pub metrics: MetricsSection,
    /// Settings of the generated `default` app (`limits`, `webhooks`, `dialects`), laid over its credentials;
    /// ignored when `apps` is given.
    pub default_app: Map<String, Value>,
    /// Apps with their full credentials. When present, no `default` app is generated.
    pub apps: Vec<App>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceSection {
    pub grace_secs: Option<f64>,
    pub heartbeat_timeout_secs: Option<f64>,
    pub send_queue: Option<usize>,
    pub write_timeout_secs: Option<f64>,
    pub sweep_interval_ms: Option<u64>,
    pub node_ttl_secs: Option<f64>,
    /// Window over which a stopping node closes its connections (and its bound to send queued webhooks).
    pub drain_secs: Option<f64>,
    /// Single node: how long after a restart the clients of a drained stop have to come back unnoticed.
    pub restart_grace_secs: Option<f64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub max_body_bytes: Option<usize>,
    pub token_ttl_secs: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// "full" (default: survives power loss) or "normal" (survives a crash of the process).
    pub sqlite_sync: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `GET /metrics` (default true).
    pub enabled: Option<bool>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

/// `GET /metrics`, resolved.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub token: Option<String>,
}

/// Everything start-up needs, resolved.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub log: String,
    pub log_format: LogFormat,
    pub metrics: MetricsConfig,
    pub service: herald_service::ServiceConfig,
    /// Window over which a stopping node closes its connections.
    pub drain: Duration,
    /// Single node: the allowance a drained stop's connections get after the restart.
    pub restart_grace: Duration,
    pub http: herald_http::HttpConfig,
    pub durability: herald_sqlite::Durability,
    /// Where the store lives: the embedded SQLite file in `data`, or a shared PostgreSQL database.
    pub database: Option<herald_postgres::PostgresOptions>,
    /// Where presence and the bus live: this process, or a shared Redis.
    pub redis: Option<herald_redis::RedisOptions>,
    pub default_app: Map<String, Value>,
    pub apps: Vec<App>,
}

impl Config {
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.config.as_deref())?;
        let listen = args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr =
            listen.parse().with_context(|| format!("listen address {listen:?} is not HOST:PORT"))?;
        let mut service = herald_service::ServiceConfig::default();
        if let Some(s) = args.grace_secs.or(file.presence.grace_secs) {
            service.grace = secs(s, "grace_secs")?;
        }
        if let Some(s) = args.heartbeat_timeout_secs.or(file.presence.heartbeat_timeout_secs) {
            service.heartbeat_timeout = secs(s, "heartbeat_timeout_secs")?;
            if service.heartbeat_timeout.is_zero() {
                bail!("heartbeat_timeout_secs must be positive");
            }
        }
        if let Some(n) = file.presence.send_queue {
            service.send_queue = n.max(1);
        }
        if let Some(s) = file.presence.write_timeout_secs {
            service.write_timeout = secs(s, "write_timeout_secs")?;
            if service.write_timeout.is_zero() {
                bail!("write_timeout_secs must be positive");
            }
        }
        if let Some(ms) = file.presence.sweep_interval_ms {
            service.sweep_interval = Duration::from_millis(ms.max(1));
        }
        if let Some(s) = args.node_ttl_secs.or(file.presence.node_ttl_secs) {
            service.node_ttl = secs(s, "node_ttl_secs")?;
            if service.node_ttl < Duration::from_millis(300) {
                bail!("node_ttl_secs must be at least 0.3");
            }
        }
        let drain = secs(args.drain_secs.or(file.presence.drain_secs).unwrap_or(DEFAULT_DRAIN_SECS), "drain_secs")?;
        let restart_grace =
            secs(file.presence.restart_grace_secs.unwrap_or(DEFAULT_RESTART_GRACE_SECS), "restart_grace_secs")?;
        let database = args.database_url.clone().or(file.database_url).map(|url| herald_postgres::PostgresOptions {
            schema: args.database_schema.clone().or(file.database_schema.clone()),
            ..herald_postgres::PostgresOptions::new(url)
        });
        if database.is_none() && (args.database_schema.is_some() || file.database_schema.is_some()) {
            bail!("database_schema needs database_url");
        }
        let redis = args.redis_url.clone().or(file.redis_url).map(|url| herald_redis::RedisOptions {
            prefix: args.redis_prefix.clone().or(file.redis_prefix.clone()).unwrap_or_else(|| "herald".to_owned()),
            ..herald_redis::RedisOptions::new(url)
        });
        if redis.is_none() && (args.redis_prefix.is_some() || file.redis_prefix.is_some()) {
            bail!("redis_prefix needs redis_url");
        }
        let mut http = herald_http::HttpConfig::default();
        if let Some(n) = file.http.max_body_bytes {
            http.max_body_bytes = n;
        }
        if let Some(n) = file.http.token_ttl_secs {
            http.token_ttl_secs = n;
        }
        let durability = match file.storage.sqlite_sync.as_deref() {
            None | Some("full") => herald_sqlite::Durability::Full,
            Some("normal") => herald_sqlite::Durability::Normal,
            Some(other) => bail!("storage.sqlite_sync must be \"full\" or \"normal\", not {other:?}"),
        };
        let log_format = match args.log_format.clone().or(file.log_format) {
            Some(name) => LogFormat::parse(&name)?,
            None => LogFormat::default(),
        };
        if file.metrics.token.as_deref().is_some_and(str::is_empty) {
            bail!("metrics.token must not be empty (leave it out to serve /metrics without a token)");
        }
        let metrics = MetricsConfig { enabled: file.metrics.enabled.unwrap_or(true), token: file.metrics.token };
        Ok(Self {
            listen,
            data: args.data.clone().or(file.data).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".to_owned()),
            log_format,
            metrics,
            service,
            drain,
            restart_grace,
            http,
            durability,
            database,
            redis,
            default_app: file.default_app,
            apps: file.apps,
        })
    }
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("herald.toml").exists() => PathBuf::from("herald.toml"),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn secs(s: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("{name} must be a non-negative number of seconds"))
}
