//! Follows: a directed edge follower -> followee with the time it was made.

use serde::{Deserialize, Serialize};

use crate::{Error, Millis, UserId};

/// The other end of an edge in a fans / following / mutual list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowEdge {
    pub user_id: UserId,
    /// When the edge was made (for mutual lists: when the listing user followed this one).
    pub since: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowList {
    /// Users who follow me.
    Fans,
    /// Users I follow.
    Following,
    /// Users who follow me and whom I follow.
    Mutual,
}

/// How two users relate, seen from the first. As a bitmask: 1 they follow me, 2 I follow them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    None,
    FollowsMe,
    IFollow,
    Mutual,
}

impl Relation {
    pub fn from_edges(i_follow: bool, follows_me: bool) -> Self {
        match (i_follow, follows_me) {
            (true, true) => Relation::Mutual,
            (true, false) => Relation::IFollow,
            (false, true) => Relation::FollowsMe,
            (false, false) => Relation::None,
        }
    }

    /// The bitmask: 1 the other follows me, 2 I follow the other.
    pub fn bits(self) -> u8 {
        match self {
            Relation::None => 0,
            Relation::FollowsMe => 1,
            Relation::IFollow => 2,
            Relation::Mutual => 3,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCounts {
    pub fans: u64,
    pub following: u64,
    pub mutual: u64,
}

/// The result of following one user in a batch.
pub type FollowResult = Result<FollowDone, Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowDone {
    Followed,
    AlreadyFollowing,
}
