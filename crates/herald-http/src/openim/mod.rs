//! The OpenIM-compatible server API: upstream's routes (POST, JSON) on Herald's HTTP port, with its envelope
//! (`errCode`/`errMsg`/`errDlt`/`data`, HTTP 200 always), its error codes, its `operationID` and `token` headers
//! and its HS256 tokens signed with the app's OpenIM secret. A user token issued here also opens the WebSocket
//! gateway.

mod auth;
mod envelope;
pub mod error;
mod extract;
mod status;
pub mod token;
mod user;

use axum::Router;
use axum::routing::post;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/get_admin_token", post(auth::get_admin_token))
        .route("/auth/get_user_token", post(auth::get_user_token))
        .route("/auth/parse_token", post(auth::parse_token))
        .route("/auth/force_logout", post(auth::force_logout))
        .route("/user/user_register", post(user::user_register))
        .route("/user/get_users_info", post(user::get_users_info))
        .route("/user/account_check", post(user::account_check))
        .route("/user/subscribe_users_status", post(status::subscribe_users_status))
        .route("/user/get_subscribe_users_status", post(status::get_subscribe_users_status))
        .route("/user/get_users_status", post(status::get_users_status))
        .route("/user/get_users_online_status", post(status::get_users_online_status))
        .layer(axum::middleware::from_fn(extract::operation_id))
}
