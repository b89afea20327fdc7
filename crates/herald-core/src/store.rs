//! The persistent store of apps, users, subscriptions, follows and session tokens. Services depend on these traits
//! only; SQLite is the embedded implementation, PostgreSQL the clustered one. Every implementation must pass the same
//! conformance suite.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::follow::{FollowCounts, FollowEdge, FollowList, FollowResult, Relation};
use crate::paging::{Page, PageRequest};
use crate::subscription::{SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits};
use crate::{App, AppId, Millis, Platform, Result, UserId};

/// A user to register, with the optional profile fields the vendor APIs carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub user_id: UserId,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub face_url: Option<String>,
}

impl NewUser {
    pub fn id_only(user_id: UserId) -> Self {
        Self { user_id, nickname: None, face_url: None }
    }
}

/// A registered user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: UserId,
    pub nickname: Option<String>,
    pub face_url: Option<String>,
    pub created_at: Millis,
    /// When the user was last online, as of its last offline transition.
    pub last_seen: Option<Millis>,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn load_apps(&self) -> Result<Vec<App>>;
    /// Insert the app unless one with its ID exists; return the stored one. Safe when nodes race at start-up.
    async fn insert_app_if_absent(&self, app: &App) -> Result<App>;
}

/// What registering an ID that already exists means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterMode {
    /// Leave the existing user as it is; the others are created.
    KeepExisting,
    /// All or nothing: one existing ID fails the whole call with [`crate::Error::AlreadyRegistered`] and creates
    /// nobody, decided inside one transaction so that concurrent calls cannot both pass.
    AllNew,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Register users. Returns, per input, whether it was newly created.
    async fn register_users(
        &self,
        app: &AppId,
        users: &[NewUser],
        now: Millis,
        mode: RegisterMode,
    ) -> Result<Vec<bool>>;
    /// The registered users among `ids`, in no particular order.
    async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserRecord>>;
    /// Delete users with every subscription and follow they take part in. Returns, per input, whether it existed.
    async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>>;
    async fn record_last_seen(&self, app: &AppId, user: &UserId, at: Millis) -> Result<()>;
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Subscribe (or refresh) atomically under the limits; expired subscriptions neither count nor block.
    async fn subscribe(
        &self,
        app: &AppId,
        request: &SubscribeRequest,
        limits: SubscriptionLimits,
    ) -> Result<SubscribeOutcome>;
    /// Remove subscriptions; returns the targets that were subscribed.
    async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        targets: &[UserId],
    ) -> Result<Vec<UserId>>;
    /// A subscriber's live subscriptions, ordered by (subscribed_at, target).
    async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>>;
    /// A target's live subscribers, ordered by (subscribed_at, subscriber).
    async fn subscribers_of(
        &self,
        app: &AppId,
        target: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>>;
    /// Delete up to `max` expired subscriptions; returns how many went.
    async fn purge_expired(&self, now: Millis, max: usize) -> Result<u64>;
}

#[async_trait]
pub trait FollowStore: Send + Sync {
    /// Follow each followee (already checked to exist and to differ from the follower), under `max_following`.
    async fn follow(
        &self,
        app: &AppId,
        follower: &UserId,
        followees: &[UserId],
        now: Millis,
        max_following: u32,
    ) -> Result<Vec<FollowResult>>;
    /// Unfollow; returns, per input, whether the edge existed.
    async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<bool>>;
    /// One page of a user's fans, following or mutual list, newest first.
    async fn follow_page(
        &self,
        app: &AppId,
        user: &UserId,
        list: FollowList,
        page: &PageRequest,
    ) -> Result<Page<FollowEdge>>;
    /// How `user` relates to each of `others`, in input order.
    async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Relation>>;
    /// Counts per user, in input order (zeros for users without edges).
    async fn follow_counts(&self, app: &AppId, users: &[UserId]) -> Result<Vec<FollowCounts>>;
}

/// A session token some dialects record server-side so that it can be kicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_id: String,
    pub user_id: UserId,
    pub platform: Option<Platform>,
    pub expires_at: Millis,
    pub kicked: bool,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn record_token(&self, app: &AppId, token: &TokenRecord) -> Result<()>;
    async fn token(&self, app: &AppId, token_id: &str) -> Result<Option<TokenRecord>>;
    /// Kick every live token of the user (on one platform, or all); returns how many.
    async fn kick_tokens(&self, app: &AppId, user: &UserId, platform: Option<Platform>) -> Result<u64>;
    /// Forget up to `max` tokens that expired before `now`; returns how many went.
    async fn purge_expired_tokens(&self, now: Millis, max: usize) -> Result<u64>;
}

/// Everything a backend must provide.
pub trait Store: AppStore + UserStore + SubscriptionStore + FollowStore + TokenStore {}

impl<T: AppStore + UserStore + SubscriptionStore + FollowStore + TokenStore> Store for T {}
