//! `GET /metrics`: the Prometheus text exposition, rendered by whoever owns the recorder, optionally behind a
//! bearer token (metrics name routes and volumes an operator may not want public).

use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::native::error::ApiError;

/// The content type of the Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` serves: the rendering of the process's recorder, and the token a scraper must present.
#[derive(Clone)]
pub struct MetricsEndpoint {
    pub render: Arc<dyn Fn() -> String + Send + Sync>,
    pub token: Option<String>,
}

impl fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsEndpoint").field("token", &self.token.as_ref().map(|_| "<set>")).finish()
    }
}

pub async fn scrape(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(endpoint) = &s.config.metrics else {
        return crate::native::error::not_found().await.into_response();
    };
    if let Some(token) = &endpoint.token
        && !presents(&headers, token)
    {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "/metrics needs Authorization: Bearer <token>")
                .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], (endpoint.render)()).into_response()
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn presents(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = given.strip_prefix("Bearer ") else { return false };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert!(presents(&with("Bearer s3cret"), "s3cret"));
        assert!(!presents(&with("Bearer s3cre"), "s3cret"));
        assert!(!presents(&with("Bearer s3cret2"), "s3cret"));
        assert!(!presents(&with("Basic s3cret"), "s3cret"));
        assert!(!presents(&HeaderMap::new(), "s3cret"));
    }
}
