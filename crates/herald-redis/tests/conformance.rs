//! The registry and bus conformance suite against Redis, each case under a key prefix of its own that is deleted
//! afterwards. Runs when HERALD_TEST_REDIS_URL is set (e.g. redis://127.0.0.1:6379); skipped otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use herald_conformance::registry::Backend;
use herald_redis::{RedisBus, RedisOptions, RedisRegistry};

async fn fresh() -> Option<Backend> {
    let Ok(url) = std::env::var("HERALD_TEST_REDIS_URL") else {
        eprintln!("HERALD_TEST_REDIS_URL is not set: skipping the Redis registry/bus conformance case");
        return None;
    };
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let prefix = format!("herald-conf-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let options = RedisOptions { prefix: prefix.clone(), ..RedisOptions::new(url.clone()) };
    let connect_failed = "connect to the test Redis";
    Some(Backend {
        registry: Arc::new(RedisRegistry::connect(&options).await.expect(connect_failed)),
        peer_registry: Arc::new(RedisRegistry::connect(&options).await.expect(connect_failed)),
        bus: Arc::new(RedisBus::connect(&options).await.expect(connect_failed)),
        peer_bus: Some(Arc::new(RedisBus::connect(&options).await.expect(connect_failed))),
        cleanup: Some(Box::pin(delete_prefix(url, prefix))),
    })
}

/// Delete every key of a case (a scan is fine here: it is test clean-up, not a hot path).
async fn delete_prefix(url: String, prefix: String) {
    let client = redis::Client::open(url).expect("redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("redis connection");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap_or_default();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap_or(());
    }
}

herald_conformance::registry_conformance!(fresh());
