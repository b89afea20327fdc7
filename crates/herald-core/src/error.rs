//! The one domain error. Every adapter maps it to its own wire codes through a single table.

use crate::UserId;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Error {
    /// A request field is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// A batch is larger than the call allows.
    #[error("too many {what}: at most {max} per call")]
    TooMany { what: &'static str, max: usize },
    /// A named user is not registered in the app.
    #[error("user {0} is not registered")]
    UserNotFound(UserId),
    /// A registration that must create every user names one that exists.
    #[error("user {0} is already registered")]
    AlreadyRegistered(UserId),
    #[error("a user cannot subscribe to itself")]
    SelfSubscription,
    #[error("a user cannot follow itself")]
    SelfFollow,
    /// The subscriber already holds the maximum number of live subscriptions.
    #[error("subscriber limit reached: at most {limit} live subscriptions per user")]
    SubscriberLimit { limit: u32 },
    /// The target already has the maximum number of live subscribers.
    #[error("target limit reached: at most {limit} live subscribers per user")]
    TargetLimit { limit: u32 },
    /// The follower already follows the maximum number of users.
    #[error("following limit reached: at most {limit} per user")]
    FollowingLimit { limit: u32 },
    /// The user is offline where the operation needs a live session.
    #[error("user {0} is offline")]
    UserOffline(UserId),
    /// Credentials are missing or wrong.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Credentials are valid but do not allow this operation.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A backend (database, cache, bus) failed or is unreachable.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// This node is stopping and takes no new connections; the client should connect again (elsewhere, or soon).
    #[error("this node is restarting: connect again")]
    Draining,
}

impl Error {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { field, reason: reason.into() }
    }

    pub fn unavailable(source: impl std::fmt::Display) -> Self {
        Error::Unavailable(source.to_string())
    }
}
