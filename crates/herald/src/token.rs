//! `herald token`: a client token (or a Tencent UserSig) for a registered user of an existing installation.
//!
//! It reads the store that `herald serve` uses with the same settings and creates nothing there unless `--init`
//! asks for it: a mistyped or missing `--data` must not quietly start a second installation with an app of its own,
//! and a cluster node's data folder (which holds no database) must not grow a stray SQLite file. Its answer is the
//! token alone on stdout, so `TOKEN=$(herald token --user alice)` captures exactly it; everything else goes to
//! stderr.

use std::sync::Arc;

use anyhow::{Context, bail};
use herald_core::store::Store;
use herald_core::{App, AppId, Platform, UserId};
use herald_postgres::PostgresStore;
use herald_sqlite::SqliteStore;

use crate::cli::TokenArgs;
use crate::config::Config;
use crate::startup;

pub async fn mint(config: &Config, args: &TokenArgs) -> anyhow::Result<String> {
    let app_id = AppId::parse(args.app.clone())?;
    let store = open_store(config, args.init).await?;
    let apps = if args.init {
        startup::resolve_apps(config, store.as_ref(), &mut std::io::stderr()).await?
    } else if !config.apps.is_empty() {
        config.apps.clone()
    } else {
        store.load_apps().await?
    };
    let Some(app) = apps.into_iter().find(|a| a.app_id == app_id) else {
        bail!("there is no app {app_id} (a first `herald serve` creates the default app, or pass --init)");
    };
    if args.tencent {
        let tc = herald_http::tencent::settings(&app)?
            .with_context(|| format!("app {app_id} has no Tencent credentials"))?;
        let user = match &args.user {
            Some(user) if *user != tc.admin_identifier => {
                let user = UserId::parse(user.clone())?;
                require_registered(store.as_ref(), &app, &user).await?;
                user.to_string()
            }
            _ => tc.admin_identifier.clone(),
        };
        let now = herald_service::now_millis() / 1000;
        return Ok(herald_http::tencent::usersig::generate(tc.sdkappid, &tc.secret_key, &user, args.ttl, now, None));
    }
    let user = UserId::parse(args.user.clone().unwrap_or_default())?;
    let platform = args.platform.as_deref().map(Platform::from_name).transpose()?;
    require_registered(store.as_ref(), &app, &user).await?;
    let (token, _) = herald_http::native::tokens::mint(&app, &user, platform, args.ttl)?;
    Ok(token)
}

/// The store of the installation. Without `init`, the embedded database must exist already: its data folder is
/// neither created nor given a new database file. A cluster's database is only read, and the data folder untouched.
async fn open_store(config: &Config, init: bool) -> anyhow::Result<Arc<dyn Store>> {
    if init {
        return startup::open_store(config).await;
    }
    if let Some(options) = &config.database {
        return Ok(Arc::new(PostgresStore::connect(options).await.context("connecting to PostgreSQL")?));
    }
    let data = &config.data;
    if !data.is_dir() {
        bail!(
            "the data folder {} does not exist: run `herald token` where `herald serve` runs, or name its data \
             folder with --data (or HERALD_DATA); --init creates a new installation there",
            data.display()
        );
    }
    let file = data.join(startup::DATABASE_FILE);
    if !file.is_file() {
        bail!(
            "the data folder {} holds no database ({}): for a cluster node, pass --database-url (or set \
             HERALD_DATABASE_URL); --init creates a new installation there",
            data.display(),
            startup::DATABASE_FILE
        );
    }
    let store = SqliteStore::open(&file, config.durability)
        .with_context(|| format!("opening the database in {}", data.display()))?;
    Ok(Arc::new(store))
}

async fn require_registered(store: &dyn Store, app: &App, user: &UserId) -> anyhow::Result<()> {
    if store.get_users(&app.app_id, std::slice::from_ref(user)).await?.is_empty() {
        bail!(
            "user {user} is not registered in app {}: register it first (POST /v1/users, or a vendor API's \
             import or register call)",
            app.app_id
        );
    }
    Ok(())
}
