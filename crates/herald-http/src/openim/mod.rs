//! The OpenIM-compatible server API: upstream's routes (POST, JSON) on Herald's HTTP port, with its envelope
//! (`errCode`/`errMsg`/`errDlt`/`data`, HTTP 200 always), its error codes, its `operationID` and `token` headers
//! and its HS256 tokens signed with the app's OpenIM secret. A user token issued here also opens the WebSocket
//! gateway.

mod auth;
pub mod error;
mod settings;
mod status;
pub mod token;
mod user;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::response::Response;
use herald_service::AppDirectory;
use serde_json::{Value, json};

use crate::AppState;
use crate::dialect::{ConfigError, Dialect, DialectParts, route};
pub use settings::{OpenImApp, OpenImApps, OpenImSettings};
use wire::{OpenImWire, WithToken, WithoutToken};

const NAME: &str = "openim";

/// The OpenIM dialect.
pub struct OpenIm;

impl Dialect for OpenIm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn generate_credentials(&self) -> Value {
        json!({"secret": crate::random_hex(16), "admin_user_id": "imAdmin"})
    }

    fn build(&self, apps: &AppDirectory, _: &crate::WebhookDispatcher) -> Result<DialectParts, ConfigError> {
        let apps = Arc::new(OpenImApps::read(apps)?);
        Ok(DialectParts {
            routes: routes(&OpenImWire { apps: apps.clone() }),
            client_tokens: Some(Arc::new(token::OpenImClientTokens(apps))),
            event_sink: None,
        })
    }

    /// OpenIM's server API lives under `/auth/` and `/user/` here; RongCloud's routes share `/user/` but all end
    /// in `.json`, which OpenIM's never do.
    fn unknown_route(&self, request: &Parts) -> Option<Response> {
        let path = request.uri.path();
        let ours = (path.starts_with("/auth/") || path.starts_with("/user/")) && !path.ends_with(".json");
        ours.then(|| wire::no_such_route(request))
    }
}

fn routes(wire: &OpenImWire) -> Router<AppState> {
    Router::new()
        .route("/auth/get_admin_token", route(wire, WithoutToken, auth::get_admin_token))
        .route("/auth/get_user_token", route(wire, WithToken, auth::get_user_token))
        .route("/auth/parse_token", route(wire, WithoutToken, auth::parse_token))
        .route("/auth/force_logout", route(wire, WithToken, auth::force_logout))
        .route("/user/user_register", route(wire, WithToken, user::user_register))
        .route("/user/get_users_info", route(wire, WithToken, user::get_users_info))
        .route("/user/account_check", route(wire, WithToken, user::account_check))
        .route("/user/subscribe_users_status", route(wire, WithToken, status::subscribe_users_status))
        .route("/user/get_subscribe_users_status", route(wire, WithToken, status::get_subscribe_users_status))
        .route("/user/get_users_status", route(wire, WithToken, status::get_users_status))
        .route("/user/get_users_online_status", route(wire, WithToken, status::get_users_online_status))
        .layer(axum::middleware::from_fn(wire::operation_id))
}
