//! Redis backends for a cluster of Herald nodes: the presence registry (connection records shared by every node)
//! and the bus (pub/sub channels per topic).
//!
//! Every key starts with a configurable prefix, so several clusters (or test runs) can share one Redis.

mod bus;
mod keys;
mod registry;

pub use bus::RedisBus;
pub use registry::RedisRegistry;

use herald_core::{Error, Result};

/// Where and under which key prefix to keep Herald's data.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key and channel; must not contain `{` or `}` (they delimit Redis Cluster hash tags).
    pub prefix: String,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), prefix: "herald".into() }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(Error::invalid("redis_prefix", "must be non-empty and contain no braces"));
        }
        Ok(())
    }
}

/// Run a command, and once more if it failed because the connection had dropped: a connection manager finds out
/// that its connection was cut only when a command fails on it, and reconnects then. Without the second try, the
/// first command after every outage (a published event, a read) would be lost.
pub(crate) async fn once_more_if_dropped<T, F, Fut>(mut command: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match command().await {
        Err(e) if e.is_connection_dropped() || e.is_io_error() => command().await,
        result => result,
    }
}

pub(crate) fn unavailable(e: redis::RedisError) -> Error {
    Error::unavailable(format!("redis: {e}"))
}
