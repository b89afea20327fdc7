//! The native API's errors: `{"error":{"code":"stable_snake_name","message":"..."}}` with the right HTTP status.
//! Every domain error maps here, once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_core::Error;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
}

/// The one table from domain errors to (HTTP status, code).
pub fn code_of(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::InvalidArgument { .. } => (StatusCode::BAD_REQUEST, "invalid_argument"),
        Error::TooMany { .. } => (StatusCode::BAD_REQUEST, "too_many_items"),
        Error::UserNotFound(_) => (StatusCode::NOT_FOUND, "user_not_found"),
        Error::AlreadyRegistered(_) => (StatusCode::CONFLICT, "already_registered"),
        Error::SelfSubscription => (StatusCode::BAD_REQUEST, "self_subscription"),
        Error::SelfFollow => (StatusCode::BAD_REQUEST, "self_follow"),
        Error::SubscriberLimit { .. } => (StatusCode::CONFLICT, "subscriber_limit"),
        Error::TargetLimit { .. } => (StatusCode::CONFLICT, "target_limit"),
        Error::FollowingLimit { .. } => (StatusCode::CONFLICT, "following_limit"),
        Error::UserOffline(_) => (StatusCode::CONFLICT, "user_offline"),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable"),
        Error::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = code_of(&e);
        if matches!(e, Error::Unavailable(_)) {
            tracing::error!(error = %e, "request failed in a backend");
        }
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

/// The `{"code","message"}` object of a failed item inside a batch answer.
pub fn item_error(e: &Error) -> serde_json::Value {
    json!({"code": code_of(e).1, "message": e.to_string()})
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// A route that exists, asked with a method it does not serve (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not serve that method")
}
