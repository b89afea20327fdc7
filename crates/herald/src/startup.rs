//! Start-up: open the backends, resolve the apps, start the service and serve HTTP until a shutdown signal.

use std::sync::Arc;

use anyhow::Context;
use herald_core::bus::Bus;
use herald_core::registry::PresenceRegistry;
use herald_core::store::Store;
use herald_core::{App, AppId, NodeId, Platform, UserId};
use herald_memory::{MemoryBus, MemoryRegistry};
use herald_service::{AppDirectory, Backends, Herald};
use herald_postgres::PostgresStore;
use herald_redis::{RedisBus, RedisRegistry};
use herald_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::cli::TokenArgs;
use crate::config::Config;
use crate::credentials::Credentials;

const DATABASE_FILE: &str = "herald.db";

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let apps = resolve_apps(&config, store.as_ref()).await?;
    let (registry, bus) = open_presence(&config).await?;
    let backends = Backends { store, registry, bus };
    // A fresh incarnation per start, so a restarted node never owns its previous life's connections.
    let node = NodeId::new(format!("node-{:016x}", rand::random::<u64>()));
    let herald_node = node.clone();
    let herald = Herald::new(backends, AppDirectory::new(apps), config.service.clone(), node);
    herald.spawn_background();

    let router = herald_http::router(herald, config.http.clone());
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this line; keep its shape.
    println!("herald listening on {addr}");
    tracing::info!(%addr, data = %config.data.display(), node = %herald_node, cluster = config.redis.is_some(), "herald is ready");
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// The store: PostgreSQL when a database URL is configured, else the embedded SQLite file.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    if let Some(options) = &config.database {
        let store = PostgresStore::connect(options).await.context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    open_embedded_store(config)
}

/// Presence records and the bus: Redis when configured (shared by every node), else this process's memory.
async fn open_presence(config: &Config) -> anyhow::Result<(Arc<dyn PresenceRegistry>, Arc<dyn Bus>)> {
    match &config.redis {
        Some(options) => {
            if config.database.is_none() {
                tracing::warn!("redis_url without database_url: nodes share presence but not users or subscriptions");
            }
            let registry = RedisRegistry::connect(options).await.context("connecting to Redis")?;
            let bus = RedisBus::connect(options).await.context("connecting to Redis for pub/sub")?;
            Ok((Arc::new(registry), Arc::new(bus)))
        }
        None => Ok((Arc::new(MemoryRegistry::new()), Arc::new(MemoryBus::new()))),
    }
}

fn open_embedded_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    let store = SqliteStore::open(&config.data.join(DATABASE_FILE), config.durability)
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    Ok(Arc::new(store))
}

/// The apps to serve: those of the configuration, or the `default` app, generated on first start.
async fn resolve_apps(config: &Config, store: &dyn Store) -> anyhow::Result<Vec<App>> {
    if !config.apps.is_empty() {
        return Ok(config.apps.clone());
    }
    let on_disk = Credentials::read(&config.data)?;
    let generated = on_disk.is_none();
    let candidate = on_disk.unwrap_or_else(Credentials::generate).into_app(&config.default_app);
    // In a shared database the first node's credentials win; every node then writes the same file.
    let stored = store.insert_app_if_absent(&candidate).await?;
    let credentials = Credentials::of(&stored).context("the stored default app lacks a dialect's credentials")?;
    let stored_json = serde_json::to_value(&credentials)?;
    let on_disk_json = Credentials::read(&config.data)?.map(|c| serde_json::to_value(c)).transpose()?;
    if on_disk_json.as_ref() != Some(&stored_json) {
        credentials.write(&config.data)?;
    }
    if generated {
        println!("Created app 'default'. Its credentials (also in {}):", config.data.join(crate::credentials::FILE_NAME).display());
        println!("{}", serde_json::to_string_pretty(&stored_json)?);
    }
    // Limits and webhooks always come from the configuration of this start.
    Ok(vec![App { limits: config.default_app.limits.clone(), webhooks: config.default_app.webhooks.clone(), ..stored }])
}

pub async fn mint_token(config: &Config, args: &TokenArgs) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let apps = resolve_apps(config, store.as_ref()).await?;
    let app_id = AppId::parse(args.app.clone())?;
    let app = apps.iter().find(|a| a.app_id == app_id).with_context(|| format!("no app {app_id}"))?;
    if args.tencent {
        let tc = app.tencent.as_ref().with_context(|| format!("app {app_id} has no Tencent credentials"))?;
        let user = args.user.clone().unwrap_or_else(|| tc.admin_identifier.clone());
        let now = herald_service::now_millis() / 1000;
        return Ok(herald_http::tencent::usersig::generate(tc.sdkappid, &tc.secret_key, &user, args.ttl, now, None));
    }
    let user = UserId::parse(args.user.clone().unwrap_or_default())?;
    let platform = args.platform.as_deref().map(Platform::from_name).transpose()?;
    let (token, _) = herald_http::native::tokens::mint(app, &user, platform, args.ttl)?;
    Ok(token)
}

async fn shutdown_signal() {
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
