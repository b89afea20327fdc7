//! Request IDs: every request carries one in `X-Request-ID` (the client's, or a generated UUID), the answer echoes
//! it, and the request's tracing span records it, so every log line of the request can be found by it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// OpenIM's per-call ID, which its clients log on their side.
const OPERATION_ID: HeaderName = HeaderName::from_static("operationid");

/// Longest client-chosen request ID kept: a UUID's length, and the longest RongCloud documents for its callers.
const MAX_LEN: usize = 36;

/// Middleware, outermost: forget a client's request ID that is empty, too long or not plain visible ASCII, so that
/// one is generated instead and nothing odd reaches the logs.
pub async fn drop_unusable(mut req: Request, next: Next) -> Response {
    if req.headers().get(&REQUEST_ID).is_some_and(|v| !usable(v.as_bytes())) {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

fn usable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| b.is_ascii_graphic())
}

/// The span of one request: its method, path (without the query, which may hold a token), request ID, and for
/// OpenIM calls its `operationID`.
pub fn make_span(req: &axum::http::Request<Body>) -> Span {
    let header =
        |name: &HeaderName| req.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = header(&REQUEST_ID).unwrap_or_default(),
        operation_id = tracing::field::Empty,
    );
    if let Some(operation_id) = header(&OPERATION_ID).filter(|id| !id.is_empty() && id.len() <= MAX_LEN) {
        span.record("operation_id", operation_id);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::{MAX_LEN, usable};

    #[test]
    fn only_short_visible_ascii_ids_are_kept() {
        assert!(usable(b"abc-123_XYZ.7"));
        assert!(!usable(b""));
        assert!(!usable(b"has space"));
        assert!(!usable("caf\u{e9}".as_bytes()));
        assert!(!usable(&[b'a'; MAX_LEN + 1]));
        assert!(usable(&[b'a'; MAX_LEN]));
    }
}
