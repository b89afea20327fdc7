//! The native API's errors: `{"error":{"code":"stable_snake_name","message":"..."}}` with the right HTTP status.
//! Every domain error maps here, once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error code the native API answers with. The wire name is the snake-case variant name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidArgument,
    MalformedJson,
    TooManyItems,
    SelfSubscription,
    SelfFollow,
    Unauthenticated,
    Forbidden,
    UserNotFound,
    NotFound,
    MethodNotAllowed,
    AlreadyRegistered,
    UserOffline,
    SubscriberLimit,
    TargetLimit,
    FollowingLimit,
    PayloadTooLarge,
    UnsupportedMediaType,
    BackendUnavailable,
    Draining,
}

impl Code {
    pub const ALL: [Code; 19] = [
        Code::InvalidArgument,
        Code::MalformedJson,
        Code::TooManyItems,
        Code::SelfSubscription,
        Code::SelfFollow,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::UserNotFound,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::AlreadyRegistered,
        Code::UserOffline,
        Code::SubscriberLimit,
        Code::TargetLimit,
        Code::FollowingLimit,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::BackendUnavailable,
        Code::Draining,
    ];

    /// The wire name, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::MalformedJson => "malformed_json",
            Code::TooManyItems => "too_many_items",
            Code::SelfSubscription => "self_subscription",
            Code::SelfFollow => "self_follow",
            Code::Unauthenticated => "unauthenticated",
            Code::Forbidden => "forbidden",
            Code::UserNotFound => "user_not_found",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::AlreadyRegistered => "already_registered",
            Code::UserOffline => "user_offline",
            Code::SubscriberLimit => "subscriber_limit",
            Code::TargetLimit => "target_limit",
            Code::FollowingLimit => "following_limit",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::BackendUnavailable => "backend_unavailable",
            Code::Draining => "draining",
        }
    }
}

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

    pub fn coded(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self::new(status, code.as_str(), message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::coded(StatusCode::BAD_REQUEST, Code::InvalidArgument, message)
    }
}

/// The one table from domain errors to (HTTP status, code).
pub fn status_and_code(e: &Error) -> (StatusCode, Code) {
    match e {
        Error::InvalidArgument { .. } => (StatusCode::BAD_REQUEST, Code::InvalidArgument),
        Error::TooMany { .. } => (StatusCode::BAD_REQUEST, Code::TooManyItems),
        Error::UserNotFound(_) => (StatusCode::NOT_FOUND, Code::UserNotFound),
        Error::AlreadyRegistered(_) => (StatusCode::CONFLICT, Code::AlreadyRegistered),
        Error::SelfSubscription => (StatusCode::BAD_REQUEST, Code::SelfSubscription),
        Error::SelfFollow => (StatusCode::BAD_REQUEST, Code::SelfFollow),
        Error::SubscriberLimit { .. } => (StatusCode::CONFLICT, Code::SubscriberLimit),
        Error::TargetLimit { .. } => (StatusCode::CONFLICT, Code::TargetLimit),
        Error::FollowingLimit { .. } => (StatusCode::CONFLICT, Code::FollowingLimit),
        Error::UserOffline(_) => (StatusCode::CONFLICT, Code::UserOffline),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, Code::Unauthenticated),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, Code::Forbidden),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Code::BackendUnavailable),
        Error::Draining => (StatusCode::SERVICE_UNAVAILABLE, Code::Draining),
    }
}

/// [`status_and_code`] with the code's wire name, for answers written outside this module.
pub fn code_of(e: &Error) -> (StatusCode, &'static str) {
    let (status, code) = status_and_code(e);
    (status, code.as_str())
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

/// Why a call, or one item of a batch call, failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    #[schema(value_type = Code)]
    pub code: &'static str,
    /// What was wrong, for people; the wording may change.
    pub message: String,
}

/// The body of every failed native call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorObject { code: self.code, message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

/// The `{"code","message"}` object of a failed item inside a batch answer.
pub fn item_error(e: &Error) -> ErrorObject {
    ErrorObject { code: code_of(e).1, message: e.to_string() }
}

pub async fn not_found() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, Code::NotFound, "no such route")
}

/// A route that exists, asked with a method it does not serve (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::coded(StatusCode::METHOD_NOT_ALLOWED, Code::MethodNotAllowed, "this route does not serve that method")
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::UserId;

    #[test]
    fn wire_names_are_what_serde_writes() {
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn every_domain_error_answers_a_documented_code() {
        let user = UserId::parse("u").unwrap();
        let errors = [
            Error::invalid("x", "y"),
            Error::TooMany { what: "x", max: 1 },
            Error::UserNotFound(user.clone()),
            Error::AlreadyRegistered(user.clone()),
            Error::SelfSubscription,
            Error::SelfFollow,
            Error::SubscriberLimit { limit: 1 },
            Error::TargetLimit { limit: 1 },
            Error::FollowingLimit { limit: 1 },
            Error::UserOffline(user),
            Error::Unauthenticated("x".into()),
            Error::Forbidden("x".into()),
            Error::unavailable("x"),
        ];
        for e in errors {
            let (_, name) = code_of(&e);
            assert!(Code::ALL.iter().any(|c| c.as_str() == name), "{name} is not in Code");
        }
    }
}
