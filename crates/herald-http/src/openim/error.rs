//! OpenIM's errors: the upstream code table, and the one mapping from domain errors into it.
//!
//! Upstream answers every failure with HTTP 200 and `{"errCode","errMsg","errDlt"}` (no `data`). `errMsg` is the
//! error's stable name; `errDlt` is the detail followed by `: [code]Name`, which is exactly what upstream writes
//! when the detail is empty (`": [1004]RecordNotFoundError"`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use herald_core::Error;
use serde::Serialize;

/// The upstream error codes Herald can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrCode {
    ServerInternal,
    Args,
    NoPermission,
    RecordNotFound,
    RegisteredAlready,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenNotValidYet,
    TokenUnknown,
    TokenKicked,
    TokenNotExist,
}

impl ErrCode {
    /// `(errCode, errMsg)` exactly as upstream writes them.
    pub fn wire(self) -> (u32, &'static str) {
        match self {
            ErrCode::ServerInternal => (500, "ServerInternalError"),
            ErrCode::Args => (1001, "ArgsError"),
            ErrCode::NoPermission => (1002, "NoPermissionError"),
            ErrCode::RecordNotFound => (1004, "RecordNotFoundError"),
            ErrCode::RegisteredAlready => (1102, "RegisteredAlreadyError"),
            ErrCode::TokenExpired => (1501, "TokenExpiredError"),
            ErrCode::TokenInvalid => (1502, "TokenInvalidError"),
            ErrCode::TokenMalformed => (1503, "TokenMalformedError"),
            ErrCode::TokenNotValidYet => (1504, "TokenNotValidYetError"),
            ErrCode::TokenUnknown => (1505, "TokenUnknownError"),
            ErrCode::TokenKicked => (1506, "TokenKickedError"),
            ErrCode::TokenNotExist => (1507, "TokenNotExistError"),
        }
    }
}

/// The one table from domain errors to OpenIM codes.
pub fn code_of(e: &Error) -> ErrCode {
    match e {
        Error::InvalidArgument { .. }
        | Error::TooMany { .. }
        | Error::SelfSubscription
        | Error::SelfFollow
        | Error::SubscriberLimit { .. }
        | Error::TargetLimit { .. }
        | Error::FollowingLimit { .. } => ErrCode::Args,
        Error::UserNotFound(_) | Error::UserOffline(_) => ErrCode::RecordNotFound,
        Error::AlreadyRegistered(_) => ErrCode::RegisteredAlready,
        Error::Unauthenticated(_) => ErrCode::TokenInvalid,
        Error::Forbidden(_) => ErrCode::NoPermission,
        Error::Unavailable(_) | Error::Draining => ErrCode::ServerInternal,
    }
}

/// A failed call, ready to be written in upstream's envelope.
#[derive(Debug)]
pub struct OpenImError {
    pub code: ErrCode,
    /// Free text saying what was wrong; may be empty.
    pub detail: String,
}

impl OpenImError {
    pub fn new(code: ErrCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }

    pub fn args(detail: impl Into<String>) -> Self {
        Self::new(ErrCode::Args, detail)
    }

    pub fn no_permission(detail: impl Into<String>) -> Self {
        Self::new(ErrCode::NoPermission, detail)
    }

    /// The `errDlt` text: the detail, then `: [code]Name`.
    pub fn err_dlt(&self) -> String {
        let (code, name) = self.code.wire();
        format!("{}: [{code}]{name}", self.detail)
    }
}

impl From<Error> for OpenImError {
    fn from(e: Error) -> Self {
        let code = code_of(&e);
        if code == ErrCode::ServerInternal {
            tracing::error!(error = %e, "request failed in a backend");
        }
        let detail = match &e {
            // Name the user with OpenIM's field name rather than the domain's wording.
            Error::UserNotFound(id) => format!("userID {id} is not registered"),
            Error::AlreadyRegistered(id) => format!("userID {id} registered already"),
            other => other.to_string(),
        };
        Self::new(code, detail)
    }
}

#[derive(Serialize)]
struct ErrorBody {
    #[serde(rename = "errCode")]
    err_code: u32,
    #[serde(rename = "errMsg")]
    err_msg: &'static str,
    #[serde(rename = "errDlt")]
    err_dlt: String,
}

impl IntoResponse for OpenImError {
    fn into_response(self) -> Response {
        let (err_code, err_msg) = self.code.wire();
        Json(ErrorBody { err_code, err_msg, err_dlt: self.err_dlt() }).into_response()
    }
}
