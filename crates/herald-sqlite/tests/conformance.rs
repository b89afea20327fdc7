//! The Store conformance suite against SQLite, each case on a fresh database file.

use std::sync::Arc;

use herald_core::store::Store;
use herald_sqlite::{Durability, SqliteStore};

async fn fresh() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("herald.db"), Durability::Normal).unwrap();
    // The directory must outlive the store; tests are short, so leak it rather than thread it through.
    std::mem::forget(dir);
    Arc::new(store)
}

herald_conformance::store_conformance!(fresh());
