//! A [`Store`] that records the latency of every call by operation, and counts the calls that failed.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use herald_core::follow::{FollowCounts, FollowEdge, FollowList, FollowResult, Relation};
use herald_core::paging::{Page, PageRequest};
use herald_core::store::{
    AppStore, FollowStore, NewUser, RegisterMode, Store, SubscriptionStore, TokenRecord, TokenStore, UserRecord,
    UserStore,
};
use herald_core::subscription::{
    SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits,
};
use herald_core::{App, AppId, Millis, Platform, Result, UserId};

use crate::metrics::{STORE_CALL_DURATION, STORE_ERRORS};

pub(crate) struct InstrumentedStore(pub Arc<dyn Store>);

/// Run one store call, recording how long it took under `op`.
async fn timed<T>(op: &'static str, call: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!(STORE_CALL_DURATION, "op" => op).record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
    }
    result
}

#[async_trait]
impl AppStore for InstrumentedStore {
    async fn load_apps(&self) -> Result<Vec<App>> {
        timed("load_apps", self.0.load_apps()).await
    }

    async fn insert_app_if_absent(&self, app: &App) -> Result<App> {
        timed("insert_app_if_absent", self.0.insert_app_if_absent(app)).await
    }
}

#[async_trait]
impl UserStore for InstrumentedStore {
    async fn register_users(
        &self,
        app: &AppId,
        users: &[NewUser],
        now: Millis,
        mode: RegisterMode,
    ) -> Result<Vec<bool>> {
        timed("register_users", self.0.register_users(app, users, now, mode)).await
    }

    async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        timed("get_users", self.0.get_users(app, ids)).await
    }

    async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        timed("delete_users", self.0.delete_users(app, ids)).await
    }

    async fn record_last_seen(&self, app: &AppId, user: &UserId, at: Millis) -> Result<()> {
        timed("record_last_seen", self.0.record_last_seen(app, user, at)).await
    }
}

#[async_trait]
impl SubscriptionStore for InstrumentedStore {
    async fn subscribe(
        &self,
        app: &AppId,
        request: &SubscribeRequest,
        limits: SubscriptionLimits,
    ) -> Result<SubscribeOutcome> {
        timed("subscribe", self.0.subscribe(app, request, limits)).await
    }

    async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        targets: &[UserId],
    ) -> Result<Vec<UserId>> {
        timed("unsubscribe", self.0.unsubscribe(app, subscriber, kind, targets)).await
    }

    async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        timed("subscriptions_of", self.0.subscriptions_of(app, subscriber, kind, now, page)).await
    }

    async fn subscribers_of(
        &self,
        app: &AppId,
        target: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        timed("subscribers_of", self.0.subscribers_of(app, target, kind, now, page)).await
    }

    async fn purge_expired(&self, now: Millis, max: usize) -> Result<u64> {
        timed("purge_expired", self.0.purge_expired(now, max)).await
    }
}

#[async_trait]
impl FollowStore for InstrumentedStore {
    async fn follow(
        &self,
        app: &AppId,
        follower: &UserId,
        followees: &[UserId],
        now: Millis,
        max_following: u32,
    ) -> Result<Vec<FollowResult>> {
        timed("follow", self.0.follow(app, follower, followees, now, max_following)).await
    }

    async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<bool>> {
        timed("unfollow", self.0.unfollow(app, follower, followees)).await
    }

    async fn follow_page(
        &self,
        app: &AppId,
        user: &UserId,
        list: FollowList,
        page: &PageRequest,
    ) -> Result<Page<FollowEdge>> {
        timed("follow_page", self.0.follow_page(app, user, list, page)).await
    }

    async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Relation>> {
        timed("relations", self.0.relations(app, user, others)).await
    }

    async fn follow_counts(&self, app: &AppId, users: &[UserId]) -> Result<Vec<FollowCounts>> {
        timed("follow_counts", self.0.follow_counts(app, users)).await
    }
}

#[async_trait]
impl TokenStore for InstrumentedStore {
    async fn record_token(&self, app: &AppId, token: &TokenRecord) -> Result<()> {
        timed("record_token", self.0.record_token(app, token)).await
    }

    async fn token(&self, app: &AppId, token_id: &str) -> Result<Option<TokenRecord>> {
        timed("token", self.0.token(app, token_id)).await
    }

    async fn kick_tokens(&self, app: &AppId, user: &UserId, platform: Option<Platform>) -> Result<u64> {
        timed("kick_tokens", self.0.kick_tokens(app, user, platform)).await
    }

    async fn purge_expired_tokens(&self, now: Millis, max: usize) -> Result<u64> {
        timed("purge_expired_tokens", self.0.purge_expired_tokens(now, max)).await
    }
}
