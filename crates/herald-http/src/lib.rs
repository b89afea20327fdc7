//! Herald's HTTP face: the native API and WebSocket gateway, and the vendor-compatible dialects. Each dialect is
//! one module that translates its wire format into service calls and maps domain errors to its codes in one table.

pub mod identity;
pub mod native;
pub mod rate_limit;
pub mod openim;
pub mod rongcloud;
pub mod tencent;
pub mod webhooks;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use herald_service::Herald;
use tower_http::trace::TraceLayer;

pub use identity::ClientIdentity;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Lifetime of native user tokens when the request names none.
    pub token_ttl_secs: i64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024, token_ttl_secs: 30 * 24 * 3600 }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub herald: Arc<Herald>,
    pub config: Arc<HttpConfig>,
}

/// The whole HTTP surface of a node. Also registers the dialects' webhook senders with the service, so call it once
/// per node.
pub fn router(herald: Arc<Herald>, config: HttpConfig) -> Router {
    let limit = config.max_body_bytes;
    let dispatcher = webhooks::WebhookDispatcher::start(webhooks::RetryPolicy::default());
    native::webhook::install(&herald, &dispatcher);
    rongcloud::install(&herald, &dispatcher);
    tencent::install(&herald, &dispatcher);
    let state = AppState { herald, config: Arc::new(config) };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(native::routes())
        .merge(rongcloud::routes())
        .merge(openim::routes())
        .merge(tencent::routes())
        .merge(ws::routes())
        .fallback(native::error::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
