//! Tencent Cloud Chat error codes: the one table from Herald's errors to the codes a Tencent client expects.
//!
//! Tencent numbers errors per service: the follow service uses 30xxx/32xxx, the account and online-status
//! services 70xxx, the REST gateway 60xxx and 90xxx. So the table takes the route's [`Service`] into account.

use herald_core::Error;

use super::usersig::UserSigError;

/// Which Tencent service a route belongs to; decides the code family and the `ErrorDisplay` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `im_open_login_svc`: account import, delete and check.
    Account,
    /// `follow`: the fans-and-following service.
    Follow,
    /// `openim`: online status.
    OpenIm,
}

/// Tencent's "HTTP parsing error, check the URL format of the request": the nearest documented code for a
/// request its REST gateway cannot route (an unknown service or command, a method other than POST).
pub const UNROUTABLE: i64 = 60002;
/// JSON body is not JSON.
pub const INVALID_JSON: i64 = 90001;
/// Missing or malformed URL parameters (sdkappid, identifier, usersig, contenttype, random). Tencent documents no
/// single code for this; 60025 is our choice.
pub const BAD_URL_PARAMETERS: i64 = 60025;
/// Too many calls per second for the app (Tencent's REST "call frequency exceeds the limit").
pub const RATE_LIMITED: i64 = 60007;
/// The identifier of an admin-only call is not the app's administrator (follow routes have their own code).
pub const ADMIN_REQUIRED: i64 = 60010;
/// The SDKAppID names no app served here.
pub const UNKNOWN_SDKAPPID: i64 = 70020;
/// An account named in a query was never imported.
pub const ACCOUNT_NOT_IMPORTED: i64 = 70107;

/// Why a call failed: the call itself, with its code chosen where it failed (URL, UserSig, permission, rate, body),
/// or a domain error, whose code depends on the route's service and is chosen when the answer is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Coded { code: i64, info: String },
    Domain(Error),
}

impl Fault {
    pub fn new(code: i64, info: impl Into<String>) -> Self {
        Self::Coded { code, info: info.into() }
    }

    pub fn invalid_json() -> Self {
        Self::new(INVALID_JSON, "Fail to Parse json data of body, Please check it")
    }

    /// The code and the text for `ErrorInfo`, as `service` reports them.
    pub fn resolve(self, service: Service) -> (i64, String) {
        match self {
            Self::Coded { code, info } => (code, info),
            Self::Domain(e) => {
                if matches!(e, Error::Unavailable(_)) {
                    tracing::error!(error = %e, "tencent request failed in a backend");
                }
                (code_of(&e, service), e.to_string())
            }
        }
    }
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

/// The one table from domain errors to Tencent codes.
pub fn code_of(e: &Error, service: Service) -> i64 {
    match service {
        Service::Follow => match e {
            Error::InvalidArgument { .. } | Error::TooMany { .. } | Error::SelfFollow | Error::AlreadyRegistered(_) => {
                30001
            }
            Error::UserNotFound(_) => 30003,
            Error::Forbidden(_) | Error::Unauthenticated(_) => 30004,
            Error::Unavailable(_) | Error::Draining => 30006,
            Error::FollowingLimit { .. } => 32100,
            // Not produced by follow calls; the nearest meaning.
            Error::SelfSubscription
            | Error::SubscriberLimit { .. }
            | Error::TargetLimit { .. }
            | Error::UserOffline(_) => 30001,
        },
        Service::Account | Service::OpenIm => match e {
            Error::InvalidArgument { .. }
            | Error::TooMany { .. }
            | Error::SelfFollow
            | Error::AlreadyRegistered(_)
            | Error::SelfSubscription
            | Error::SubscriberLimit { .. }
            | Error::TargetLimit { .. }
            | Error::FollowingLimit { .. }
            | Error::UserOffline(_) => 70402,
            Error::UserNotFound(_) => ACCOUNT_NOT_IMPORTED,
            Error::Forbidden(_) | Error::Unauthenticated(_) => ADMIN_REQUIRED,
            Error::Unavailable(_) | Error::Draining => 70500,
        },
    }
}

/// The code of each UserSig failure; the same for every service.
pub fn usersig_code(e: &UserSigError) -> i64 {
    match e {
        UserSigError::Expired => 70001,
        UserSigError::Malformed(_) => 70003,
        UserSigError::BadSignature => 70009,
        UserSigError::IdentifierMismatch => 70013,
        UserSigError::SdkAppIdMismatch => 70014,
    }
}

impl From<&UserSigError> for Fault {
    fn from(e: &UserSigError) -> Self {
        Self::new(usersig_code(e), e.to_string())
    }
}

/// The code of a non-admin identifier on the given service.
pub fn admin_required(service: Service) -> Fault {
    let code = if service == Service::Follow { 30004 } else { ADMIN_REQUIRED };
    Fault::new(code, "request requires App administrator permissions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::UserId;

    #[test]
    fn follow_and_account_services_number_the_same_errors_differently() {
        let missing = Error::UserNotFound(UserId::parse("x").unwrap());
        assert_eq!(code_of(&missing, Service::Follow), 30003);
        assert_eq!(code_of(&missing, Service::OpenIm), 70107);
        assert_eq!(admin_required(Service::Follow).resolve(Service::Follow).0, 30004);
        assert_eq!(admin_required(Service::Account).resolve(Service::Account).0, 60010);
        assert_eq!(code_of(&Error::FollowingLimit { limit: 1 }, Service::Follow), 32100);
    }
}
