//! The native API: `/v1`, JSON, `Authorization: Bearer <app API key>`.

pub mod error;
mod extract;

pub use extract::extract_query;
mod follows;
pub mod presence;
mod subscriptions;
pub mod tokens;
mod users;
pub mod webhook;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(users::register))
        .route("/v1/users/delete", post(users::delete_batch))
        .route("/v1/users/{user_id}", get(users::get).delete(users::delete_one))
        .route("/v1/tokens", post(tokens::issue))
        .route("/v1/presence/query", post(presence::query))
        .route("/v1/presence/report", post(presence::report))
        .route("/v1/connections/kick", post(presence::kick))
        .route("/v1/subscriptions", post(subscriptions::subscribe))
        .route("/v1/subscriptions/delete", post(subscriptions::unsubscribe))
        .route("/v1/users/{user_id}/subscriptions", get(subscriptions::list_of_subscriber))
        .route("/v1/users/{user_id}/subscribers", get(subscriptions::list_of_target))
        .route("/v1/follows", post(follows::follow))
        .route("/v1/follows/delete", post(follows::unfollow))
        .route("/v1/follows/check", post(follows::check))
        .route("/v1/follows/counts", post(follows::counts))
        .route("/v1/users/{user_id}/fans", get(follows::fans))
        .route("/v1/users/{user_id}/following", get(follows::following))
        .route("/v1/users/{user_id}/mutual", get(follows::mutual))
}
