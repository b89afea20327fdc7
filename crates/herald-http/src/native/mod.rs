//! The native API: `/v1`, JSON, `Authorization: Bearer <app API key>`.

pub mod error;
mod extract;

pub use extract::extract_query;
mod follows;
pub mod openapi;
pub mod presence;
mod subscriptions;
pub mod tokens;
mod users;
pub mod webhook;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    api().split_for_parts().0
}

/// Every native route with its description: the router serves exactly what the document describes.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::NativeApi::openapi())
        .routes(routes!(users::register))
        .routes(routes!(users::delete_batch))
        .routes(routes!(users::get, users::delete_one))
        .routes(routes!(tokens::issue))
        .routes(routes!(presence::query))
        .routes(routes!(presence::report))
        .routes(routes!(presence::kick))
        .routes(routes!(subscriptions::subscribe))
        .routes(routes!(subscriptions::unsubscribe))
        .routes(routes!(subscriptions::list_of_subscriber))
        .routes(routes!(subscriptions::list_of_target))
        .routes(routes!(follows::follow))
        .routes(routes!(follows::unfollow))
        .routes(routes!(follows::check))
        .routes(routes!(follows::counts))
        .routes(routes!(follows::fans))
        .routes(routes!(follows::following))
        .routes(routes!(follows::mutual))
        .routes(routes!(openapi::serve))
}
