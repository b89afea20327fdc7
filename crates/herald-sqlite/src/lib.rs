//! The embedded store: SQLite in WAL mode, one writer thread that group-commits, a few reader connections.
//!
//! Writes are queued to the writer, which runs every queued job inside one transaction (each job in its own
//! savepoint, so one failing job does not undo the others) and acknowledges them only after the commit. That gives
//! the durability of a commit per write at the cost of a commit per batch.

mod apps;
mod conn;
mod follows;
mod schema;
mod subscriptions;
mod tokens;
mod users;

use std::path::Path;

pub use conn::SqliteStore;

/// How hard SQLite syncs: `Full` survives power loss, `Normal` survives a crash of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

impl SqliteStore {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub fn open(path: &Path, durability: Durability) -> herald_core::Result<Self> {
        conn::open(path, durability)
    }
}

/// Whether the database at `path` holds Herald's schema; a file that does not exist does not. Committed data may
/// still sit in the write-ahead log beside an empty-looking file, so this asks SQLite rather than the file size.
pub fn has_schema(path: &Path) -> herald_core::Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let read = || -> rusqlite::Result<i64> {
        rusqlite::Connection::open(path)?.query_row("PRAGMA user_version", [], |r| r.get(0))
    };
    read().map(|version| version > 0).map_err(|e| herald_core::Error::unavailable(format!("sqlite: {e}")))
}
