//! The Tencent Cloud Chat-compatible REST API: `POST /v4/{service}/{command}` authenticated with a UserSig of the
//! app's administrator. Accounts (`im_open_login_svc`), fans and following (`follow`), online status (`openim`),
//! and callbacks to the app's callback URL.

mod accounts;
mod callbacks;
pub mod client_token;
pub mod error;
mod follows;
mod online;
pub mod platform;
mod settings;
pub mod usersig;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::response::Response;
use herald_service::AppDirectory;
use serde_json::{Value, json};

use crate::AppState;
use crate::dialect::{ConfigError, Dialect, DialectParts, LegacyKey, route, route_get_or_post};
use crate::rate_limit::AppRateLimits;
use error::Service;
pub use settings::{TencentApp, TencentApps, TencentSettings};

const NAME: &str = "tencent";

/// The Tencent Cloud Chat dialect.
pub struct Tencent;

impl Dialect for Tencent {
    fn name(&self) -> &'static str {
        NAME
    }

    fn legacy_keys(&self) -> &'static [LegacyKey] {
        &settings::LEGACY
    }

    fn generate_credentials(&self) -> Value {
        json!({
            "sdkappid": rand::random_range(1_400_000_000u64..1_500_000_000),
            "secret_key": crate::random_hex(32),
            "admin_identifier": "administrator",
        })
    }

    fn build(&self, apps: &AppDirectory, webhooks: &crate::WebhookDispatcher) -> Result<DialectParts, ConfigError> {
        let apps = Arc::new(TencentApps::read(apps)?);
        let wire = wire::TencentWire { apps: apps.clone(), limits: Arc::new(AppRateLimits::default()) };
        Ok(DialectParts {
            routes: routes(&wire),
            event_sink: callbacks::sink(&apps, webhooks),
            client_tokens: Some(Arc::new(client_token::TencentClientTokens(apps))),
        })
    }

    /// Tencent's REST API is `/v4/{service}/{command}`.
    fn unknown_route(&self, request: &Parts) -> Option<Response> {
        let path = request.uri.path();
        (path == "/v4" || path.starts_with("/v4/")).then(|| wire::no_such_route(path))
    }
}

/// An app's Tencent settings, `None` when it does not speak this dialect.
pub fn settings(app: &herald_core::App) -> Result<Option<TencentSettings>, ConfigError> {
    crate::dialect::settings_of(app, NAME, &settings::LEGACY)
}

fn routes(wire: &wire::TencentWire) -> Router<AppState> {
    Router::new()
        .route("/v4/im_open_login_svc/account_import", route(wire, Service::Account, accounts::import))
        .route("/v4/im_open_login_svc/multiaccount_import", route(wire, Service::Account, accounts::multi_import))
        .route("/v4/im_open_login_svc/account_delete", route(wire, Service::Account, accounts::delete))
        // timsdk sends account_check as GET.
        .route("/v4/im_open_login_svc/account_check", route_get_or_post(wire, Service::Account, accounts::check))
        .route("/v4/follow/follow_add", route(wire, Service::Follow, follows::add))
        .route("/v4/follow/follow_delete", route(wire, Service::Follow, follows::delete))
        .route("/v4/follow/follow_check", route(wire, Service::Follow, follows::check))
        .route("/v4/follow/follow_get", route(wire, Service::Follow, follows::get))
        .route("/v4/follow/follow_get_info", route(wire, Service::Follow, follows::get_info))
        .route("/v4/openim/query_online_status", route(wire, Service::OpenIm, online::query))
        // The same call's older name, still used by timsdk.
        .route("/v4/openim/querystate", route(wire, Service::OpenIm, online::query))
}
