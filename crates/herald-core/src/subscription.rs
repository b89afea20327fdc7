//! Subscriptions: a subscriber watching a target's online status (or profile), with an optional expiry.

use serde::{Deserialize, Serialize};

use crate::{Error, Millis, Result, UserId};

/// What a subscription watches. The numbers are the vendors' `subType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionKind {
    OnlineStatus,
    UserProfile,
}

impl SubscriptionKind {
    pub fn code(self) -> i64 {
        match self {
            SubscriptionKind::OnlineStatus => 1,
            SubscriptionKind::UserProfile => 2,
        }
    }

    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            1 => Ok(SubscriptionKind::OnlineStatus),
            2 => Ok(SubscriptionKind::UserProfile),
            _ => Err(Error::invalid("kind", format!("unknown subscription kind {code}; expected 1 or 2"))),
        }
    }
}

/// One stored subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub subscriber: UserId,
    pub target: UserId,
    pub kind: SubscriptionKind,
    pub subscribed_at: Millis,
    /// The lifetime asked for, in seconds; `None` for no expiry.
    pub expiry_secs: Option<i64>,
    /// `subscribed_at + expiry`; `None` for no expiry.
    pub expires_at: Option<Millis>,
}

impl Subscription {
    pub fn is_live(&self, now: Millis) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// Subscribe one subscriber to many targets in one call.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscribeRequest {
    pub subscriber: UserId,
    pub targets: Vec<UserId>,
    pub kind: SubscriptionKind,
    pub expiry_secs: Option<i64>,
    pub now: Millis,
}

/// The longest lifetime a subscription may ask for: ten years, in seconds. Longer is what no expiry is for.
pub const MAX_EXPIRY_SECS: i64 = 10 * 365 * 24 * 3600;

impl SubscribeRequest {
    /// `now + expiry`; saturating, though the service refuses lifetimes beyond [`MAX_EXPIRY_SECS`] before this.
    pub fn expires_at(&self) -> Option<Millis> {
        self.expiry_secs.map(|s| self.now.saturating_add(s.saturating_mul(1000)))
    }
}

/// What a subscribe call did. A full subscriber is an error for the whole call; a full target only skips itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubscribeOutcome {
    /// Targets now subscribed (new or refreshed).
    pub subscribed: Vec<UserId>,
    /// Targets that already have the maximum number of live subscribers.
    pub targets_at_limit: Vec<UserId>,
}

/// Bounds checked inside the store's transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionLimits {
    pub per_subscriber: u32,
    pub per_target: u32,
}
