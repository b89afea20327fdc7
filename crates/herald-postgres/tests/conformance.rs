//! The Store conformance suite against PostgreSQL, each case in a schema of its own that is dropped afterwards.
//! The cases are ignored unless asked for: `HERALD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p herald-postgres -- --include-ignored` (the URL names the database).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use herald_core::store::Store;
use herald_postgres::{PostgresOptions, PostgresStore};

async fn fresh() -> Arc<dyn Store> {
    let url = std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "HERALD_TEST_DATABASE_URL is not set: this test needs a PostgreSQL database, named by the URL \
             (e.g. postgres://postgres@127.0.0.1:5432/test)"
        )
    });
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let schema = format!("herald_conf_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let options = PostgresOptions {
        schema: Some(schema),
        drop_schema_on_close: true,
        max_connections: 4,
        ..PostgresOptions::new(url.clone())
    };
    match PostgresStore::connect(&options).await {
        Ok(store) => Arc::new(store),
        Err(e) => panic!("the PostgreSQL database at HERALD_TEST_DATABASE_URL={url} does not answer: {e}"),
    }
}

herald_conformance::store_conformance!(fresh(), ignore = "needs PostgreSQL: set HERALD_TEST_DATABASE_URL");
