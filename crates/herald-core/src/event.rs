//! Events: what subscribers and webhooks hear about.

use serde::{Deserialize, Serialize};

use crate::presence::{ChangeCause, PlatformPresence, PresenceView};
use crate::{AppId, Millis, Platform, UserId};

/// A user's derived presence changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresenceEvent {
    pub app: AppId,
    pub user_id: UserId,
    pub view: PresenceView,
    pub previous: PresenceView,
    pub details: Vec<PlatformPresence>,
    pub cause: ChangeCause,
    /// The platform whose connection caused the change, when one did.
    pub platform: Option<Platform>,
    pub at: Millis,
}

/// A follower followed or unfollowed some users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowEvent {
    pub app: AppId,
    pub follower: UserId,
    pub followees: Vec<UserId>,
    pub followed: bool,
    pub at: Millis,
}
