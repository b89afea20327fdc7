//! Following, unfollowing and reading the follow graph.

use herald_core::event::FollowEvent;
use herald_core::follow::{FollowCounts, FollowDone, FollowEdge, FollowList, FollowResult, Relation};
use herald_core::paging::{Page, PageRequest};
use herald_core::{App, AppId, Error, Result, UserId};

use crate::{Herald, now_millis};

impl Herald {
    /// Follow each followee; per-item results. The follower must be registered; an unregistered followee fails
    /// only its own item.
    pub async fn follow(&self, app: &App, follower: &UserId, followees: &[UserId]) -> Result<Vec<FollowResult>> {
        self.require_users(&app.app_id, std::slice::from_ref(follower)).await?;
        let missing = self.missing_users(&app.app_id, followees).await?;
        let known: Vec<UserId> = followees.iter().filter(|f| !missing.contains(f)).cloned().collect();
        let now = now_millis();
        let mut stored = self
            .store
            .follow(&app.app_id, follower, &known, now, app.limits.max_following)
            .await?
            .into_iter();
        let results: Vec<FollowResult> = followees
            .iter()
            .map(|f| {
                if missing.contains(f) {
                    Err(Error::UserNotFound(f.clone()))
                } else {
                    stored.next().unwrap_or(Err(Error::unavailable("store returned too few results")))
                }
            })
            .collect();
        let followed: Vec<UserId> = followees
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, Ok(FollowDone::Followed)))
            .map(|(f, _)| f.clone())
            .collect();
        if !followed.is_empty() {
            self.emit_follow(&FollowEvent {
                app: app.app_id.clone(),
                follower: follower.clone(),
                followees: followed,
                followed: true,
                at: now,
            });
        }
        Ok(results)
    }

    /// Unfollow; per input, whether the edge existed.
    pub async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<bool>> {
        let removed = self.store.unfollow(app, follower, followees).await?;
        let gone: Vec<UserId> =
            followees.iter().zip(&removed).filter(|(_, r)| **r).map(|(f, _)| f.clone()).collect();
        if !gone.is_empty() {
            self.emit_follow(&FollowEvent {
                app: app.clone(),
                follower: follower.clone(),
                followees: gone,
                followed: false,
                at: now_millis(),
            });
        }
        Ok(removed)
    }

    pub async fn follow_page(&self, app: &AppId, user: &UserId, list: FollowList, page: &PageRequest) -> Result<Page<FollowEdge>> {
        self.store.follow_page(app, user, list, page).await
    }

    pub async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Relation>> {
        self.store.relations(app, user, others).await
    }

    pub async fn follow_counts(&self, app: &AppId, users: &[UserId]) -> Result<Vec<FollowCounts>> {
        self.store.follow_counts(app, users).await
    }
}
