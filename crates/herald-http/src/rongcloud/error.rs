//! RongCloud's errors: `{"code":N,"errorMessage":"..."}` with the HTTP status its docs give for each code.
//! Every domain error maps here, once, per route family: the subscription routes have their own 260xx codes,
//! the other routes the general 100x ones.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_core::Error;
use serde_json::json;

use crate::dialect::unroutable;

/// Which of RongCloud's code families a route answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `/user/getToken.json`, `/user/checkOnline.json`: codes 1000..1050.
    General,
    /// `/user/subscribe/*`: codes 26001..26022.
    Subscription,
}

/// A RongCloud error answer: one whose code is already chosen, or a domain error, answered in the codes of the
/// route's family.
#[derive(Debug)]
pub enum RcError {
    Coded { status: StatusCode, code: u32, message: String },
    Domain(Error),
}

/// HTTP 430 is RongCloud's own "service not enabled" status.
fn status_430() -> StatusCode {
    StatusCode::from_u16(430).unwrap_or(StatusCode::FORBIDDEN)
}

/// The one table from domain errors to (RongCloud code, HTTP status).
pub fn code_of(e: &Error, family: Family) -> (u32, StatusCode) {
    use Family::{General, Subscription};
    match (e, family) {
        (Error::Unavailable(_) | Error::Draining, General) => (1000, StatusCode::INTERNAL_SERVER_ERROR),
        (Error::Unavailable(_) | Error::Draining, Subscription) => (26003, StatusCode::INTERNAL_SERVER_ERROR),
        (Error::Unauthenticated(_), _) => (1004, StatusCode::UNAUTHORIZED),
        (Error::Forbidden(_), General) => (1009, status_430()),
        (Error::Forbidden(_), Subscription) => (26020, StatusCode::UNAUTHORIZED),
        (Error::SubscriberLimit { .. }, _) => (26022, StatusCode::FORBIDDEN),
        // A target at its limit is normally reported per target (code 26021 with HTTP 200, built by the handler);
        // this arm only covers a call where the service reports it as a whole.
        (Error::TargetLimit { .. }, _) => (26021, StatusCode::OK),
        // Unregistered users, self-subscription, bad or too many values: RongCloud's "parameter error" of the family.
        (
            Error::InvalidArgument { .. }
            | Error::TooMany { .. }
            | Error::UserNotFound(_)
            | Error::AlreadyRegistered(_)
            | Error::SelfSubscription
            | Error::SelfFollow
            | Error::FollowingLimit { .. }
            | Error::UserOffline(_),
            General,
        ) => (1002, StatusCode::BAD_REQUEST),
        (
            Error::InvalidArgument { .. }
            | Error::TooMany { .. }
            | Error::UserNotFound(_)
            | Error::AlreadyRegistered(_)
            | Error::SelfSubscription
            | Error::SelfFollow
            | Error::FollowingLimit { .. }
            | Error::UserOffline(_),
            Subscription,
        ) => (26001, StatusCode::BAD_REQUEST),
    }
}

impl RcError {
    fn new(code: u32, status: StatusCode, message: impl Into<String>) -> Self {
        Self::Coded { status, code, message: message.into() }
    }

    /// A domain error, answered in `family`'s codes whatever the route's.
    pub fn domain(e: Error, family: Family) -> Self {
        let (code, status) = code_of(&e, family);
        if status.is_server_error() {
            tracing::error!(error = %e, "rongcloud request failed in a backend");
        }
        Self::new(code, status, e.to_string())
    }

    /// 1001: the App-Key names no app speaking this API.
    pub fn unknown_app_key() -> Self {
        Self::new(1001, StatusCode::UNAUTHORIZED, "App-Key is unknown or the app has no RongCloud credentials")
    }

    /// 1004: missing, wrong or stale signature.
    pub fn bad_signature(why: impl Into<String>) -> Self {
        Self::new(1004, StatusCode::UNAUTHORIZED, why)
    }

    /// 1003: the request carries no form body at all.
    pub fn no_post_data() -> Self {
        Self::new(1003, StatusCode::BAD_REQUEST, "no POST data")
    }

    /// 1005: a value (or the whole body) is longer than allowed.
    pub fn too_long(what: impl Into<String>) -> Self {
        Self::new(1005, StatusCode::BAD_REQUEST, what)
    }

    /// 1008: the app's request rate is over its limit.
    pub fn rate_limited(per_second: u32) -> Self {
        Self::new(
            1008,
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded: at most {per_second} requests per second"),
        )
    }

    /// A method the route does not take: RongCloud documents no code for it, so its general parameter error
    /// (1002), with HTTP 405.
    pub fn wrong_method(method: &Method) -> Self {
        Self::new(1002, StatusCode::METHOD_NOT_ALLOWED, unroutable::wrong_method_message(method))
    }

    /// A path under RongCloud's routes that names none of them: 1002 with HTTP 404, RongCloud's status for a URL
    /// that names no resource.
    pub fn no_such_route(path: &str) -> Self {
        Self::new(1002, StatusCode::NOT_FOUND, unroutable::no_such_route_message(path))
    }

    /// `{"code","errorMessage"}` with the code's HTTP status; a domain error in the codes of `family`.
    pub fn answer(self, family: Family) -> Response {
        match self {
            Self::Coded { status, code, message } => {
                (status, Json(json!({"code": code, "errorMessage": message}))).into_response()
            }
            Self::Domain(e) => Self::domain(e, family).answer(family),
        }
    }
}

impl From<Error> for RcError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::UserId;

    #[test]
    fn families_answer_with_their_own_codes() {
        let missing = Error::UserNotFound(UserId::parse("u").unwrap());
        assert_eq!(code_of(&missing, Family::General), (1002, StatusCode::BAD_REQUEST));
        assert_eq!(code_of(&missing, Family::Subscription), (26001, StatusCode::BAD_REQUEST));
        assert_eq!(code_of(&Error::SubscriberLimit { limit: 1 }, Family::Subscription), (26022, StatusCode::FORBIDDEN));
        assert_eq!(code_of(&Error::unavailable("x"), Family::Subscription).0, 26003);
        assert_eq!(code_of(&Error::Forbidden("x".into()), Family::General).1.as_u16(), 430);
    }
}
