//! Request bodies are read whole before a request is routed. A handler that refuses a request early (bad
//! credentials, a wrong method) would otherwise leave the body unread on the connection, and the server would have
//! to drop a connection the client means to reuse for its next request.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Read the body (up to `limit` + 1 bytes: a longer one is refused downstream, in the answering API's own format)
/// and hand the request on. A body too long to read whole leaves bytes on the connection, which is then closed.
pub async fn read_whole(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let too_long = limit.saturating_add(1);
    // An error is a body longer than that (or a client that stopped sending): refused for its length either way.
    let bytes = to_bytes(body, too_long).await.unwrap_or_else(|_| vec![0u8; too_long].into());
    let complete = bytes.len() <= limit;
    let mut response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if !complete {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
