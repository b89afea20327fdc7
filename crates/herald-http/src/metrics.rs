//! The HTTP layer's metrics: requests by route template and status with their latency, and webhook deliveries.
//! Routes are labelled by the template they matched (`/v1/users/{user_id}`), never by the raw path, so no user ID
//! reaches a label and the number of series stays bounded.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::DIALECTS;

pub const HTTP_REQUESTS: &str = "herald_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "herald_http_request_duration_seconds";
pub const WEBHOOK_DELIVERIES: &str = "herald_webhook_deliveries_total";
pub const WEBHOOK_RETRIES: &str = "herald_webhook_retries_total";
pub const WEBHOOK_QUEUE_DEPTH: &str = "herald_webhook_queue_depth";

/// The `result` of a webhook delivery: accepted by the receiver (2xx), abandoned after the last attempt, or
/// dropped unsent because its lane was full.
pub const DELIVERED: &str = "delivered";
pub const GIVEN_UP: &str = "given_up";
pub const DROPPED: &str = "dropped";

/// The `route` of a request that matched no route: raw paths would let any client create series.
pub const UNMATCHED: &str = "unmatched";

/// The `dialect` of Herald's own webhooks.
pub const NATIVE: &str = "native";

/// Describe the HTTP metrics and create the webhook series at zero for every API, so a scrape lists them before
/// the first delivery. Call once after installing a recorder.
pub fn register() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route template, method and status.");
    describe_histogram!(HTTP_REQUEST_DURATION, Unit::Seconds, "HTTP request latency, by route template and method.");
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook deliveries by dialect and result (delivered, given_up, dropped).");
    describe_counter!(WEBHOOK_RETRIES, "Webhook attempts that failed and were tried again, by dialect.");
    describe_gauge!(WEBHOOK_QUEUE_DEPTH, "Webhook deliveries waiting on their lanes, by dialect.");
    let dialects = std::iter::once(NATIVE).chain(DIALECTS.iter().map(|d| d.name()));
    for dialect in dialects {
        for result in [DELIVERED, GIVEN_UP, DROPPED] {
            counter!(WEBHOOK_DELIVERIES, "dialect" => dialect, "result" => result).absolute(0);
        }
        counter!(WEBHOOK_RETRIES, "dialect" => dialect).absolute(0);
        gauge!(WEBHOOK_QUEUE_DEPTH, "dialect" => dialect).set(0.0);
    }
}

/// Middleware: count the request and record its latency under the route template it matched.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method).record(elapsed);
    response
}

/// The method as a label; anything unusual is one label, so odd methods cannot create series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
