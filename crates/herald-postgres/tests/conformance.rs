//! The Store conformance suite against PostgreSQL, each case in a schema of its own that is dropped afterwards.
//! Runs when HERALD_TEST_DATABASE_URL is set (e.g. postgres://postgres@127.0.0.1:5432/test); skipped otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use herald_core::store::Store;
use herald_postgres::{PostgresOptions, PostgresStore};

async fn fresh() -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("HERALD_TEST_DATABASE_URL") else {
        eprintln!("HERALD_TEST_DATABASE_URL is not set: skipping the PostgreSQL store conformance case");
        return None;
    };
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let schema = format!("herald_conf_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let options = PostgresOptions {
        schema: Some(schema),
        drop_schema_on_close: true,
        max_connections: 4,
        ..PostgresOptions::new(url)
    };
    Some(Arc::new(PostgresStore::connect(&options).await.expect("connect to the test database")))
}

herald_conformance::store_conformance!(fresh());
