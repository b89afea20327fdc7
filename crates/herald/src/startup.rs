//! Start-up: open the backends, resolve the apps, start the service and serve HTTP until a shutdown signal.

use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use herald_core::bus::Bus;
use herald_core::registry::PresenceRegistry;
use herald_core::store::Store;
use herald_core::{App, Millis, NodeId};
use herald_http::{RetryPolicy, WebhookDispatcher};
use herald_memory::{MemoryBus, MemoryRegistry};
use herald_postgres::PostgresStore;
use herald_redis::{RedisBus, RedisRegistry};
use herald_service::{AppDirectory, Backends, Herald};
use herald_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::credentials::Credentials;
use crate::restart;

pub(crate) const DATABASE_FILE: &str = "herald.db";
const LOCK_FILE: &str = "herald.lock";

/// One node, built and ready to serve: the backends, the service, the HTTP surface and the webhook senders. It owns
/// every background task, so [`Application::run_until_stopped`] can stop them in order.
pub struct Application {
    herald: Arc<Herald>,
    webhooks: WebhookDispatcher,
    router: Router,
    listener: TcpListener,
    data: PathBuf,
    cluster: bool,
    drain: Duration,
    /// Single node: the registry in this process's memory and its journal, carried over restarts.
    local: Option<LocalPresence>,
    /// Held while the node runs, so no second server uses the same embedded database.
    _data_lock: Option<std::fs::File>,
}

impl Application {
    /// Open the backends, resolve the apps and wire the service, its event sinks and the routes. Nothing runs yet.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let data_lock = lock_data_folder(&config)?;
        let store = open_store(&config).await?;
        let apps = resolve_apps(&config, store.as_ref(), &mut std::io::stdout()).await?;
        let (registry, bus, memory) = open_presence(&config).await?;
        let backends = Backends { store, registry, bus };
        // A fresh incarnation per start, so a restarted node never owns its previous life's connections.
        let node = NodeId::new(format!("node-{:016x}", rand::random::<u64>()));
        let herald = Herald::new(backends, AppDirectory::new(apps)?, config.service.clone(), node);
        let webhooks = WebhookDispatcher::start(RetryPolicy::default());
        let http =
            herald_http::HttpConfig { metrics: crate::metrics::endpoint(&config.metrics)?, ..config.http.clone() };
        let surface = herald_http::build(herald.clone(), http, &webhooks)?;
        for sink in surface.event_sinks {
            herald.add_event_sink(sink);
        }
        let router = surface.router;
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let local = match memory {
            Some(registry) => Some(LocalPresence::take_over(&config, &herald, registry).await?),
            None => None,
        };
        let cluster = config.redis.is_some();
        Ok(Self {
            herald,
            webhooks,
            router,
            listener,
            data: config.data,
            cluster,
            drain: config.drain,
            local,
            _data_lock: data_lock,
        })
    }

    /// Serve until `shutdown` resolves, then drain: refuse new connections (readiness says so), close the open
    /// ones with "reconnect" spread over the drain window, stop serving HTTP, stop the service's loops, hand the
    /// presence over (to the cluster, or to the next process on this data folder) and send the queued webhooks.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        self.herald.start_background();
        // Scripts and tests wait for this line; keep its shape.
        println!("herald listening on {addr}");
        let node = self.herald.node();
        tracing::info!(%addr, data = %self.data.display(), %node, cluster = self.cluster, "herald is ready");
        let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async {
            let _ = serving_stopped.await;
        });
        let mut server = tokio::spawn(server.into_future());
        let served = tokio::select! {
            served = &mut server => Some(served),
            _ = shutdown => None,
        };
        if self.local.is_some() {
            self.herald.hold_leases();
        }
        // A close frame may wait for a stalled client's write timeout before its record is kept.
        let settle = self.herald.config.write_timeout + Duration::from_secs(2);
        self.herald.drain_connections(self.drain, settle).await;
        let _ = stop_serving.send(());
        let served = match served {
            Some(served) => served,
            None => server.await,
        };
        self.herald.stop_background().await;
        match &self.local {
            Some(local) => local.hand_over(&self.data),
            None => self.herald.leave().await,
        }
        self.webhooks.shutdown(self.drain).await;
        served.context("the HTTP server task failed")?.context("serving HTTP")
    }
}

/// The presence of a single node, kept in this process's memory and carried over its restarts.
struct LocalPresence {
    registry: Arc<MemoryRegistry>,
    journal: Arc<restart::OnlineJournal>,
}

impl LocalPresence {
    /// Take over what the previous process on this data folder left, and start the journal of this one.
    async fn take_over(config: &Config, herald: &Arc<Herald>, registry: Arc<MemoryRegistry>) -> anyhow::Result<Self> {
        let previous = restart::read_previous(&config.data)?;
        let allowance = config.restart_grace.as_millis() as Millis;
        restart::take_over(previous, herald, &registry, allowance, herald_service::now_millis()).await?;
        let journal = restart::OnlineJournal::start(&config.data, &registry)?;
        herald.add_event_sink(journal.clone());
        Ok(Self { registry, journal })
    }

    /// After a drain: the records, all lingering now, go to the snapshot the next process resumes.
    fn hand_over(&self, data: &Path) {
        self.journal.finish();
        match restart::write_snapshot(data, &self.registry, herald_service::now_millis()) {
            Ok(users) => tracing::info!(users, "kept the presence for the next start"),
            Err(e) => tracing::error!(error = %e, "could not keep the presence for the next start"),
        }
    }
}

/// With the embedded store, take the data folder's lock: two servers on one database would both accept writes and
/// split presence between them. Cluster nodes keep nothing there but the credentials file, so they share freely.
fn lock_data_folder(config: &Config) -> anyhow::Result<Option<std::fs::File>> {
    if config.database.is_some() {
        return Ok(None);
    }
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    let path = config.data.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another herald is already serving the data folder {} (it holds {}): stop it, or give this one its own \
             --data",
            config.data.display(),
            LOCK_FILE
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// The store: PostgreSQL when a database URL is configured, else the embedded SQLite file.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    if let Some(options) = &config.database {
        let store = PostgresStore::connect(options).await.context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    open_embedded_store(config)
}

/// Presence records and the bus: Redis when configured (shared by every node), else this process's memory (also
/// returned as such, to be carried over restarts).
async fn open_presence(
    config: &Config,
) -> anyhow::Result<(Arc<dyn PresenceRegistry>, Arc<dyn Bus>, Option<Arc<MemoryRegistry>>)> {
    match &config.redis {
        Some(options) => {
            if config.database.is_none() {
                tracing::warn!("redis_url without database_url: nodes share presence but not users or subscriptions");
            }
            let registry = RedisRegistry::connect(options).await.context("connecting to Redis")?;
            let bus = RedisBus::connect(options).await.context("connecting to Redis for pub/sub")?;
            Ok((Arc::new(registry), Arc::new(bus), None))
        }
        None => {
            let registry = Arc::new(MemoryRegistry::new());
            Ok((registry.clone(), Arc::new(MemoryBus::new()), Some(registry)))
        }
    }
}

fn open_embedded_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    let file = config.data.join(DATABASE_FILE);
    // Credentials without a database mean the data was lost or moved: starting empty would hide that.
    if Credentials::read(&config.data)?.is_some() && !herald_sqlite::has_schema(&file)? {
        bail!(
            "the data folder {} has {} but its database {} is missing or empty: refusing to start without the data \
             (restore the database, or remove {} to start a new installation)",
            config.data.display(),
            crate::credentials::FILE_NAME,
            DATABASE_FILE,
            crate::credentials::FILE_NAME
        );
    }
    let store = SqliteStore::open(&file, config.durability)
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    Ok(Arc::new(store))
}

/// The apps to serve: those of the configuration, or the `default` app, generated on first start. The node that
/// creates the default app writes its credentials to `announce`.
pub(crate) async fn resolve_apps(
    config: &Config,
    store: &dyn Store,
    announce: &mut dyn std::io::Write,
) -> anyhow::Result<Vec<App>> {
    if !config.apps.is_empty() {
        return Ok(config.apps.clone());
    }
    let on_disk = Credentials::read(&config.data)?;
    let candidate = on_disk.clone().unwrap_or_else(Credentials::generate).app()?;
    // In a shared database the first node's credentials win; every node then writes the same file.
    let stored = store.insert_app_if_absent(&candidate).await?;
    // Generated here and stored, rather than found in the database where another node put it.
    let generated = on_disk.is_none() && stored.api_key == candidate.api_key;
    let credentials = Credentials::of(&stored);
    if on_disk.as_ref() != Some(&credentials) {
        credentials.write(&config.data)?;
    }
    if generated {
        writeln!(
            announce,
            "Created app 'default'. Its credentials (also in {}):",
            config.data.join(crate::credentials::FILE_NAME).display()
        )?;
        writeln!(announce, "{}", serde_json::to_string_pretty(&credentials.to_json())?)?;
    }
    // Settings (limits, webhooks, dialect settings) always come from the configuration of this start.
    Ok(vec![credentials.app_with(&config.default_app)?])
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
