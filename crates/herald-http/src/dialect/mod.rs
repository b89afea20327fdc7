//! The API dialects. Each is one folder that translates a vendor's wire format into service calls: it reads its
//! own settings from every app's configuration, keeps its own credential index, and contributes routes, a verifier
//! of the client tokens it issues, and an event sink for its webhooks. They are listed once, in [`DIALECTS`].
//! Every call of every dialect goes through one skeleton, [`call::route`], shaped by the dialect's [`Wire`].

pub mod call;
pub mod unroutable;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::http::request::Parts;
use axum::response::Response;
use herald_core::App;
use herald_service::{AppDirectory, EventSink, Herald};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::webhooks::WebhookDispatcher;
use crate::{AppState, ClientIdentity};
pub use call::{Wire, route, route_get_or_post};
pub use unroutable::unknown_route;

/// Every dialect this build speaks. Adding one is a new folder plus a line here.
pub static DIALECTS: [&(dyn Dialect + Sync); 3] =
    [&crate::openim::OpenIm, &crate::rongcloud::RongCloud, &crate::tencent::Tencent];

/// A vendor API Herald speaks.
pub trait Dialect {
    /// Its name: an app's settings for it live under `dialects.<name>` of the app's configuration (or the older
    /// top-level `<name>` table), and a generated app's credentials under `<name>` in credentials.json.
    fn name(&self) -> &'static str;

    /// Settings that older configurations kept in an app's `limits` or `webhooks` table; still accepted, so no
    /// existing configuration breaks.
    fn legacy_keys(&self) -> &'static [LegacyKey] {
        &[]
    }

    /// Fresh credentials for a generated app.
    fn generate_credentials(&self) -> Value;

    /// Read and check every app's settings for this dialect and build its part of the node.
    fn build(&self, apps: &AppDirectory, webhooks: &WebhookDispatcher) -> Result<DialectParts, ConfigError>;

    /// The answer to a request that no route matched, in this dialect's envelope, when its path lies where this
    /// dialect's routes are (see [`unroutable`]); `None` for any other path. No two dialects claim the same path.
    fn unknown_route(&self, request: &Parts) -> Option<Response>;
}

/// What a dialect adds to a node.
pub struct DialectParts {
    pub routes: Router<AppState>,
    pub client_tokens: Option<Arc<dyn ClientTokens>>,
    pub event_sink: Option<Arc<dyn EventSink>>,
}

/// Verifies the client tokens one API issues, so they open the WebSocket gateway.
#[async_trait]
pub trait ClientTokens: Send + Sync {
    /// `None` when the token is not this API's; otherwise whom it is for, or why it is refused.
    async fn verify(&self, herald: &Herald, token: &str) -> Option<Result<ClientIdentity, String>>;
}

/// A setting an older configuration kept outside the dialect's section: `(table, key there, key in the section)`.
pub type LegacyKey = (&'static str, &'static str, &'static str);

/// A configuration that cannot be served, with what is wrong and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A dialect's settings of one app, parsed into its own type; `None` when the app has none (the dialect is closed
/// for it). Settings the section lacks are taken from their older places in `limits`/`webhooks`.
pub fn settings_of<T: DeserializeOwned>(
    app: &App,
    dialect: &str,
    legacy: &[LegacyKey],
) -> Result<Option<T>, ConfigError> {
    let Some(mut section) = app.dialect_section(dialect) else { return Ok(None) };
    for (table, older, key) in legacy {
        if let Some(value) = app.legacy_setting(table, older).filter(|_| !section.contains_key(*key)) {
            section.insert((*key).to_owned(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(section))
        .map(Some)
        .map_err(|e| ConfigError(format!("app {}: dialects.{dialect}: {e}", app.app_id)))
}

/// Refuse an empty secret: it would let anyone sign requests for the app.
pub fn require_secret(app: &App, dialect: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError(format!("app {}: dialects.{dialect}.{key} must not be empty", app.app_id)));
    }
    Ok(())
}

/// Refuse a credential that two apps share: a request presenting it could not tell which app it is for.
pub fn unique<K: Ord + std::fmt::Display>(
    seen: &mut BTreeSet<K>,
    key: K,
    app: &App,
    what: &str,
) -> Result<(), ConfigError> {
    let shown = key.to_string();
    if !seen.insert(key) {
        return Err(ConfigError(format!("app {}: {what} {shown:?} is used by another app too", app.app_id)));
    }
    Ok(())
}

/// Check that every key of every app's configuration is one that core or a dialect reads, so a typo is an error
/// at start-up rather than a setting silently ignored.
pub fn check_known_keys(apps: &AppDirectory) -> Result<(), ConfigError> {
    let names: Vec<&str> = DIALECTS.iter().map(|d| d.name()).collect();
    let legacy: Vec<(&str, &str)> =
        DIALECTS.iter().flat_map(|d| d.legacy_keys().iter().map(|(table, key, _)| (*table, *key))).collect();
    for app in apps.all() {
        let unknown = |path: String| ConfigError(format!("app {}: unknown setting {path}", app.app_id));
        for key in app.config.keys() {
            if !App::KEYS.contains(&key.as_str()) && !names.contains(&key.as_str()) {
                return Err(unknown(key.clone()));
            }
        }
        for (table, known) in
            [("limits", &herald_core::AppLimits::KEYS[..]), ("webhooks", &herald_core::app::Webhooks::KEYS[..])]
        {
            for key in table_keys(&app.config, table) {
                if !known.contains(&key) && !legacy.contains(&(table, key)) {
                    return Err(unknown(format!("{table}.{key}")));
                }
            }
        }
        for key in table_keys(&app.config, "dialects") {
            if !names.contains(&key) {
                return Err(unknown(format!("dialects.{key}")));
            }
        }
    }
    Ok(())
}

fn table_keys<'a>(config: &'a Map<String, Value>, table: &str) -> impl Iterator<Item = &'a str> {
    config.get(table).and_then(Value::as_object).into_iter().flat_map(|t| t.keys().map(String::as_str))
}
