//! The pool, the error mapping and the serializable-transaction retry loop.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Connect, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use herald_core::{Error, Result, UserId};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::schema;

/// Longest a call waits to connect to the database or for a pooled connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Idle time after which TCP keepalives probe a connection.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// How many times a write transaction is retried after a serialization failure before giving up.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// `postgres://user@host:port/db` (any libpq-style URL or key/value string tokio-postgres accepts).
    pub url: String,
    /// The schema to keep Herald's tables in (created if absent); `None` uses the server's search_path.
    pub schema: Option<String>,
    /// Most connections this node holds.
    pub max_connections: usize,
    /// Drop `schema` (with everything in it) when the last handle on the store goes: for tests and other
    /// throwaway databases.
    pub drop_schema_on_close: bool,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None, max_connections: 16, drop_schema_on_close: false }
    }
}

/// The PostgreSQL implementation of every store trait.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    _ephemeral: Option<Arc<EphemeralSchema>>,
}

/// Drops a schema when the last store handle goes.
struct EphemeralSchema {
    config: tokio_postgres::Config,
    schema: String,
}

impl Drop for EphemeralSchema {
    fn drop(&mut self) {
        let (config, schema) = (self.config.clone(), self.schema.clone());
        // Drop runs wherever the last handle goes, maybe inside a runtime: use a thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, conn) = config.connect(NoTls).await.ok()?;
                let task = tokio::spawn(drive(conn));
                let result = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                drop(client);
                let _ = task.await;
                result.ok()
            })
        });
        if done.join().ok().flatten().is_none() {
            tracing::warn!(schema = %self.schema, "could not drop an ephemeral schema");
        }
    }
}

/// A failure inside a transaction: the database's (maybe retryable), or a domain rule's (final).
pub(crate) enum Fail {
    Db(tokio_postgres::Error),
    Domain(Error),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
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
            Fail::Db(e) => db(e),
            Fail::Domain(e) => e,
        }
    }
}

/// A database failure with its causes: tokio-postgres's own message is only the kind ("db error", "error
/// connecting to server"); what happened ("Connection refused", `database "x" does not exist`) is in its source.
pub(crate) fn db(e: tokio_postgres::Error) -> Error {
    let mut message = format!("postgres: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::unavailable(message)
}

/// Whether a failed transaction may succeed if run again.
pub(crate) fn retryable(f: &Fail) -> bool {
    match f {
        Fail::Db(e) => matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION),
        Fail::Domain(_) => false,
    }
}

/// Read a user ID column, turning a malformed stored ID into an error rather than a panic.
pub(crate) fn user_col(row: &tokio_postgres::Row, idx: usize) -> Result<UserId> {
    let raw: String = row.try_get(idx).map_err(db)?;
    UserId::parse(raw).map_err(|e| Error::unavailable(format!("stored user ID is unreadable: {e}")))
}

impl PostgresStore {
    /// Connect, create the schema if asked to, and bring the tables up to date. Safe when several nodes start at
    /// once: migrations run under an advisory lock.
    pub async fn connect(options: &PostgresOptions) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(&options.url)
            .map_err(|e| Error::unavailable(format!("database URL: {e}")))?;
        let plain = config.clone();
        if let Some(schema) = &options.schema {
            if !valid_schema_name(schema) {
                return Err(Error::invalid("database_schema", "must be letters, digits and underscores"));
            }
            create_schema(&config, schema).await?;
            let existing = config.get_options().unwrap_or("").to_owned();
            config.options(format!("{existing} -csearch_path={schema}").trim());
        }
        // A database that cannot be reached must fail calls within a bound, never hold them: connecting, and
        // waiting for a pooled connection, each time out; keepalives find connections that died silently.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        let manager =
            Manager::from_connect(config, QuietNotices, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::unavailable(format!("postgres pool: {e}")))?;
        let ephemeral = match (&options.schema, options.drop_schema_on_close) {
            (Some(schema), true) => Some(Arc::new(EphemeralSchema { config: plain, schema: schema.clone() })),
            _ => None,
        };
        let store = Self { pool, _ephemeral: ephemeral };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    pub(crate) async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| Error::unavailable(format!("postgres pool: {e}")))
    }
}

/// Schema names go into a connection option and DDL unquoted, so only plain identifiers are accepted.
fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Opens the pool's connections like deadpool's default, but drives each one itself so that the server's notices
/// ("schema ... already exists, skipping" on every start after the first) are logged at debug level, not at the
/// info level tokio-postgres gives every notice.
struct QuietNotices;

/// What [`Connect::connect`] returns: a client and the task that drives its connection.
type Connecting<'a> =
    Pin<Box<dyn Future<Output = Result<(Client, JoinHandle<()>), tokio_postgres::Error>> + Send + 'a>>;

impl Connect for QuietNotices {
    fn connect(&self, config: &tokio_postgres::Config) -> Connecting<'_> {
        let config = config.clone();
        Box::pin(async move {
            let (client, conn) = config.connect(NoTls).await?;
            Ok((client, tokio::spawn(drive(conn))))
        })
    }
}

/// Run a connection until it closes, logging the server's notices: warnings at warn level, the rest at debug.
async fn drive(mut conn: tokio_postgres::Connection<tokio_postgres::Socket, NoTlsStream>) {
    loop {
        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) if notice.severity() == "WARNING" => {
                tracing::warn!(code = notice.code().code(), "postgres: {}", notice.message())
            }
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::debug!(severity = notice.severity(), "postgres: {}", notice.message())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a PostgreSQL connection failed");
                return;
            }
            None => return,
        }
    }
}

async fn create_schema(config: &tokio_postgres::Config, schema: &str) -> Result<()> {
    let (client, conn) = config.connect(NoTls).await.map_err(db)?;
    let task = tokio::spawn(drive(conn));
    let result = client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await;
    drop(client);
    let _ = task.await;
    match result {
        Ok(()) => Ok(()),
        // Two nodes creating the schema at the same moment: the loser sees a duplicate, which is fine.
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(()),
        Err(e) => Err(db(e)),
    }
}

/// Run `$body` (an expression using the transaction `$tx` and returning `Result<T, Fail>`) in a SERIALIZABLE
/// transaction on `$store`, retrying the whole transaction when PostgreSQL reports a serialization conflict.
macro_rules! serializable {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            let mut client = $store.client().await?;
            let outcome: ::std::result::Result<_, $crate::pool::Fail> = async {
                let $tx = client
                    .build_transaction()
                    .isolation_level(::tokio_postgres::IsolationLevel::Serializable)
                    .start()
                    .await?;
                let value = { $body }?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match outcome {
                Ok(v) => break Ok(v),
                Err(f) if attempt < $crate::pool::MAX_ATTEMPTS && $crate::pool::retryable(&f) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(f) => break Err(::herald_core::Error::from(f)),
            }
        }
    }};
}
pub(crate) use serializable;
