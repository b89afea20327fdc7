//! Liveness and readiness, for load balancers and orchestrators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::AppState;

/// How long each readiness check may take: a backend slower than this is as good as down for new traffic.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the node takes traffic; 503 while it drains or when a backend does not answer, naming
/// what failed.
pub async fn readyz(State(s): State<AppState>) -> Response {
    let readiness = s.herald.readiness(CHECK_TIMEOUT).await;
    let checks: Map<String, Value> = readiness
        .checks
        .iter()
        .map(|c| (c.name.to_owned(), c.failure.as_ref().map_or_else(|| json!("ok"), |f| json!(f))))
        .collect();
    let status = if readiness.draining {
        "draining"
    } else if readiness.ready() {
        "ready"
    } else {
        "unavailable"
    };
    let code = if readiness.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({ "status": status, "checks": checks }))).into_response()
}
