//! The Tencent Cloud Chat-compatible REST API: `POST /v4/{service}/{command}` authenticated with a UserSig of the
//! app's administrator. Accounts (`im_open_login_svc`), fans and following (`follow`), online status (`openim`),
//! and callbacks to the app's callback URL.

mod accounts;
pub mod call;
mod callbacks;
pub mod client_token;
pub mod error;
mod follows;
mod online;
pub mod platform;
pub mod usersig;

use std::sync::Arc;

use axum::{Extension, Router};

pub use callbacks::install;
use error::Service;
use crate::rate_limit::AppRateLimits;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    use call::route;
    Router::new()
        .route("/v4/im_open_login_svc/account_import", route(Service::Account, accounts::import))
        .route("/v4/im_open_login_svc/multiaccount_import", route(Service::Account, accounts::multi_import))
        .route("/v4/im_open_login_svc/account_delete", route(Service::Account, accounts::delete))
        .route("/v4/im_open_login_svc/account_check", route(Service::Account, accounts::check))
        .route("/v4/follow/follow_add", route(Service::Follow, follows::add))
        .route("/v4/follow/follow_delete", route(Service::Follow, follows::delete))
        .route("/v4/follow/follow_check", route(Service::Follow, follows::check))
        .route("/v4/follow/follow_get", route(Service::Follow, follows::get))
        .route("/v4/follow/follow_get_info", route(Service::Follow, follows::get_info))
        .route("/v4/openim/query_online_status", route(Service::OpenIm, online::query))
        .layer(Extension(Arc::new(AppRateLimits::default())))
}
