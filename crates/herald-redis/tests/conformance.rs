//! The registry and bus conformance suite against Redis, each case under a key prefix of its own that is deleted
//! afterwards. The cases are ignored unless asked for:
//! `HERALD_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -p herald-redis -- --include-ignored`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use herald_conformance::registry::Backend;
use herald_redis::{RedisBus, RedisOptions, RedisRegistry};

async fn fresh() -> Backend {
    let url = std::env::var("HERALD_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("HERALD_TEST_REDIS_URL is not set: this test needs a Redis server (e.g. redis://127.0.0.1:6379)")
    });
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let prefix = format!("herald-conf-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let options = RedisOptions { prefix: prefix.clone(), ..RedisOptions::new(url.clone()) };
    let failed =
        |e: herald_core::Error| -> ! { panic!("the Redis server at HERALD_TEST_REDIS_URL={url} does not answer: {e}") };
    Backend {
        registry: Arc::new(RedisRegistry::connect(&options).await.unwrap_or_else(|e| failed(e))),
        peer_registry: Arc::new(RedisRegistry::connect(&options).await.unwrap_or_else(|e| failed(e))),
        bus: Arc::new(RedisBus::connect(&options).await.unwrap_or_else(|e| failed(e))),
        peer_bus: Some(Arc::new(RedisBus::connect(&options).await.unwrap_or_else(|e| failed(e)))),
        cleanup: Some(Box::pin(delete_prefix(url, prefix))),
    }
}

/// Delete every key of a case (a scan is fine here: it is test clean-up, not a hot path).
async fn delete_prefix(url: String, prefix: String) {
    let client = redis::Client::open(url).expect("redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("redis connection");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap_or_default();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap_or(());
    }
}

herald_conformance::registry_conformance!(fresh(), ignore = "needs Redis: set HERALD_TEST_REDIS_URL");
