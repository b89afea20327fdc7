//! The RongCloud-compatible server API: an app server written against RongCloud's `/user/*` routes works against
//! Herald by changing its API host. Requests are signed form posts (see [`auth`]); answers are
//! `{"code":200,...}` or `{"code":N,"errorMessage":"..."}` with RongCloud's HTTP statuses (see [`error`]).

mod auth;
pub mod error;
mod form;
mod settings;
mod subscriptions;
pub mod token;
mod users;
mod webhook;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::response::Response;
use herald_service::AppDirectory;
use serde_json::{Value, json};

use crate::AppState;
use crate::dialect::{ConfigError, Dialect, DialectParts, LegacyKey, route};
use crate::rate_limit::AppRateLimits;
pub use error::Family;
pub use settings::{RongCloudApp, RongCloudApps, RongCloudSettings};

const NAME: &str = "rongcloud";

/// The RongCloud dialect.
pub struct RongCloud;

impl Dialect for RongCloud {
    fn name(&self) -> &'static str {
        NAME
    }

    fn legacy_keys(&self) -> &'static [LegacyKey] {
        &settings::LEGACY
    }

    fn generate_credentials(&self) -> Value {
        json!({"app_key": crate::random_hex(8), "app_secret": crate::random_hex(10)})
    }

    fn build(&self, apps: &AppDirectory, webhooks: &crate::WebhookDispatcher) -> Result<DialectParts, ConfigError> {
        let apps = Arc::new(RongCloudApps::read(apps)?);
        let wire = wire::RongCloudWire { apps: apps.clone(), limits: Arc::new(AppRateLimits::default()) };
        Ok(DialectParts {
            routes: routes(&wire),
            event_sink: webhook::sink(&apps, webhooks),
            client_tokens: Some(Arc::new(token::RongCloudClientTokens(apps))),
        })
    }

    /// RongCloud's server API paths all end in `.json`; here they are under `/user/`.
    fn unknown_route(&self, request: &Parts) -> Option<Response> {
        let path = request.uri.path();
        if !(path.starts_with("/user/") && path.ends_with(".json")) {
            return None;
        }
        // The request ID is echoed by the layer every route shares.
        Some(error::RcError::no_such_route(path).answer(Family::General))
    }
}

fn routes(wire: &wire::RongCloudWire) -> Router<AppState> {
    Router::new()
        .route("/user/getToken.json", route(wire, Family::General, users::get_token))
        .route("/user/checkOnline.json", route(wire, Family::General, users::check_online))
        .route("/user/subscribe/set.json", route(wire, Family::Subscription, subscriptions::set))
        .route("/user/subscribe/query.json", route(wire, Family::Subscription, subscriptions::query))
}
