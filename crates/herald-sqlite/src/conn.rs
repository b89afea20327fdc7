//! Connections: the writer thread with group commit, and the reader pool.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use herald_core::Error;
use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::{Durability, schema};

/// Most jobs one transaction takes before it commits.
const MAX_JOBS_PER_COMMIT: usize = 512;
const READERS: usize = 4;

/// A failure inside a job: the database's, or a domain rule's.
pub(crate) enum Fail {
    Db(rusqlite::Error),
    Domain(Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Domain(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Db(e) => Error::unavailable(format!("sqlite: {e}")),
            Fail::Domain(e) => e,
        }
    }
}

pub(crate) type JobResult<T> = Result<T, Fail>;

/// Runs after the batch's commit (or its failure) to hand the job's result to its caller.
type Finish = Box<dyn FnOnce(Result<(), Error>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;

/// The SQLite implementation of every store trait.
#[derive(Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

pub(crate) fn open(path: &Path, durability: Durability) -> herald_core::Result<SqliteStore> {
    let mut conn = connect(path, durability).map_err(Fail::from)?;
    schema::migrate(&mut conn).map_err(Fail::from)?;
    let readers = (0..READERS)
        .map(|_| connect(path, durability).map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Fail::from)?;
    let (writer, jobs) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("herald-sqlite-writer".into())
        .spawn(move || write_loop(conn, jobs))
        .map_err(Error::unavailable)?;
    Ok(SqliteStore { writer, readers: Arc::new(readers), next_reader: Arc::new(AtomicUsize::new(0)) })
}

fn connect(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = OFF; \
         PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32000;"
    ))?;
    // `rarray()` lets one statement take a whole batch of IDs.
    rusqlite::vtab::array::load_module(&conn)?;
    Ok(conn)
}

fn write_loop(conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_JOBS_PER_COMMIT);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = Error::unavailable(format!("sqlite begin: {e}"));
            for job in batch.drain(..) {
                // Run nothing: hand each caller the error without touching the database.
                drop(job);
            }
            tracing::error!(error = %err, "sqlite writer could not begin a transaction");
            continue;
        }
        let finishers: Vec<Finish> = batch.drain(..).map(|job| job(&conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Error::unavailable(format!("sqlite commit: {e}"))
        });
        for finish in finishers {
            finish(committed.clone());
        }
    }
}

impl SqliteStore {
    /// Run `f` on the writer inside its own savepoint; the result comes back once the batch is committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> herald_core::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> JobResult<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f).map_err(Error::from);
            Box::new(move |committed: Result<(), Error>| {
                let _ = tx.send(committed.and(result));
            })
        });
        self.writer.send(job).await.map_err(|_| Error::unavailable("sqlite writer stopped"))?;
        rx.await.map_err(|_| Error::unavailable("sqlite writer dropped the job"))?
    }

    /// Run `f` on a reader connection in the blocking pool.
    pub(crate) async fn read<R, F>(&self, f: F) -> herald_core::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> JobResult<R> + Send + 'static,
    {
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // Take the first idle reader from a rotating start, or wait on the start one.
            let guard = (0..readers.len())
                .find_map(|i| readers[(start + i) % readers.len()].try_lock())
                .unwrap_or_else(|| readers[start % readers.len()].lock());
            f(&guard).map_err(Error::from)
        })
        .await
        .map_err(|e| Error::unavailable(format!("sqlite reader task: {e}")))?
    }
}

/// Run one job in its own savepoint. A job that panics is rolled back and fails alone: the writer thread serves
/// every other write, so it must outlive any one of them.
fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> JobResult<R>) -> JobResult<R> {
    conn.execute_batch("SAVEPOINT job")?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(Fail::Domain(Error::unavailable("a store write failed unexpectedly"))));
    match outcome {
        Ok(r) => {
            conn.execute_batch("RELEASE job")?;
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("h.db"), Durability::Normal).unwrap();
        let failed = store
            .write(|c| -> JobResult<()> {
                c.execute_batch("CREATE TABLE scratch (x INTEGER)")?;
                panic!("a bug in a write job");
            })
            .await;
        assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
        let tables: i64 = store
            .write(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'scratch'", [], |r| r.get(0))?))
            .await
            .expect("the writer still answers");
        assert_eq!(tables, 0, "the panicking job was rolled back");
    }
}
