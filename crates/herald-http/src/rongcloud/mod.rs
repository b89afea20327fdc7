//! The RongCloud-compatible server API: an app server written against RongCloud's `/user/*` routes works against
//! Herald by changing its API host. Requests are signed form posts (see [`auth`]); answers are
//! `{"code":200,...}` or `{"code":N,"errorMessage":"..."}` with RongCloud's HTTP statuses (see [`error`]).

mod auth;
pub mod error;
mod form;
mod subscriptions;
pub mod token;
mod users;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;

use crate::AppState;
pub use error::Family;
pub use webhook::install;

/// Longest `X-Request-ID` echoed back, as RongCloud documents it.
const MAX_REQUEST_ID: usize = 36;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/getToken.json", post(users::get_token))
        .route("/user/checkOnline.json", post(users::check_online))
        .route("/user/subscribe/set.json", post(subscriptions::set))
        .route("/user/subscribe/query.json", post(subscriptions::query))
        .layer(axum::Extension(Arc::new(crate::rate_limit::AppRateLimits::default())))
        .layer(middleware::from_fn(echo_request_id))
}

/// Echo a caller's `X-Request-ID` (at most 36 characters) on every answer, errors included.
async fn echo_request_id(req: Request, next: Next) -> Response {
    let id: Option<HeaderValue> =
        req.headers().get("X-Request-ID").filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID).cloned();
    let mut response = next.run(req).await;
    if let Some(id) = id {
        response.headers_mut().insert("X-Request-ID", id);
    }
    response
}
