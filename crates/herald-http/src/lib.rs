//! Herald's HTTP face: the native API and WebSocket gateway, and the vendor-compatible dialects. Each dialect is
//! one module that translates its wire format into service calls and maps domain errors to its codes in one table.

mod body;
pub mod dialect;
mod health;
pub mod identity;
pub mod metrics;
mod metrics_endpoint;
pub mod native;
pub mod openim;
pub mod rate_limit;
mod request_id;
pub mod rongcloud;
pub mod tencent;
pub mod webhooks;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use herald_service::{EventSink, Herald};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use dialect::{ClientTokens, ConfigError, DIALECTS, Dialect};
pub use identity::ClientIdentity;
pub use metrics_endpoint::MetricsEndpoint;
pub use webhooks::{RetryPolicy, WebhookDispatcher};

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Lifetime of native user tokens when the request names none.
    pub token_ttl_secs: i64,
    /// `GET /metrics`, when metrics are exported.
    pub metrics: Option<MetricsEndpoint>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024, token_ttl_secs: 30 * 24 * 3600, metrics: None }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub herald: Arc<Herald>,
    pub config: Arc<HttpConfig>,
    /// The verifiers of every API's client tokens, the native one first.
    pub client_tokens: Arc<[Arc<dyn ClientTokens>]>,
}

/// The HTTP surface of a node, ready to serve, and the event sinks to register with the service.
pub struct HttpSurface {
    pub router: Router,
    pub event_sinks: Vec<Arc<dyn EventSink>>,
}

/// Build the native API, the WebSocket gateway and every dialect for the service's apps. Fails on an app
/// configuration that cannot be served (an unknown setting, an empty secret, a credential two apps share).
pub fn build(
    herald: Arc<Herald>,
    config: HttpConfig,
    webhooks: &WebhookDispatcher,
) -> Result<HttpSurface, ConfigError> {
    dialect::check_known_keys(&herald.apps)?;
    let mut client_tokens: Vec<Arc<dyn ClientTokens>> = vec![Arc::new(native::tokens::NativeClientTokens)];
    let native_webhooks = webhooks.for_dialect(metrics::NATIVE);
    let mut event_sinks: Vec<Arc<dyn EventSink>> =
        native::webhook::sink(&herald, &native_webhooks).into_iter().collect();
    let mut dialect_routes = Router::new();
    for dialect in DIALECTS {
        let parts = dialect.build(&herald.apps, &webhooks.for_dialect(dialect.name()))?;
        dialect_routes = dialect_routes.merge(parts.routes);
        client_tokens.extend(parts.client_tokens);
        event_sinks.extend(parts.event_sink);
    }
    let limit = config.max_body_bytes;
    let mut router = Router::new().route("/healthz", get(health::healthz)).route("/readyz", get(health::readyz));
    if config.metrics.is_some() {
        router = router.route("/metrics", get(metrics_endpoint::scrape));
    }
    let state = AppState { herald, config: Arc::new(config), client_tokens: client_tokens.into() };
    // Layers run outermost last: the request ID is settled first, so the span, the answer and the metrics all see
    // the same one.
    let router = router
        .merge(native::routes())
        .merge(ws::routes())
        .method_not_allowed_fallback(native::error::method_not_allowed)
        .merge(dialect_routes)
        .fallback(dialect::unknown_route)
        .layer(axum::middleware::from_fn_with_state(limit, body::read_whole))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        // A 5xx worth an operator's attention is logged where it happens, with its cause; a draining node's 503s
        // are expected and must not flood the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::make_span)
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(request_id::drop_unusable))
        .with_state(state);
    Ok(HttpSurface { router, event_sinks })
}

/// Random lowercase hex, for generated credentials.
pub fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}
