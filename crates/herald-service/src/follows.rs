//! Following, unfollowing and reading the follow graph. The user a call is made by or for must be registered;
//! every other user it names gets a result of its own, `UserNotFound` when not registered.

use std::collections::HashSet;

use herald_core::event::FollowEvent;
use herald_core::follow::{FollowCounts, FollowDone, FollowEdge, FollowList, FollowResult, Relation};
use herald_core::paging::{Page, PageRequest};
use herald_core::{App, AppId, Error, Result, UserId};

use crate::metrics::FOLLOW_WRITES;
use crate::{Herald, now_millis};

impl Herald {
    /// Follow each followee; per-item results.
    pub async fn follow(&self, app: &App, follower: &UserId, followees: &[UserId]) -> Result<Vec<FollowResult>> {
        self.require_registered(&app.app_id, follower).await?;
        let (registered, known) = self.registered_in_order(&app.app_id, followees).await?;
        let now = now_millis();
        let mut stored =
            self.store.follow(&app.app_id, follower, &known, now, app.limits.max_following).await?.into_iter();
        let results: Vec<FollowResult> = per_item(followees, &registered, || {
            stored.next().unwrap_or(Err(Error::unavailable("store returned too few results")))
        })
        .into_iter()
        .map(|r| r.and_then(|done| done))
        .collect();
        let followed: Vec<UserId> = followees
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, Ok(FollowDone::Followed)))
            .map(|(f, _)| f.clone())
            .collect();
        metrics::counter!(FOLLOW_WRITES, "op" => "follow").increment(followed.len() as u64);
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
    pub async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<Result<bool>>> {
        self.require_registered(app, follower).await?;
        let (registered, known) = self.registered_in_order(app, followees).await?;
        let removed = self.store.unfollow(app, follower, &known).await?;
        let gone: Vec<UserId> = known.iter().zip(&removed).filter(|(_, r)| **r).map(|(f, _)| f.clone()).collect();
        metrics::counter!(FOLLOW_WRITES, "op" => "unfollow").increment(gone.len() as u64);
        if !gone.is_empty() {
            self.emit_follow(&FollowEvent {
                app: app.clone(),
                follower: follower.clone(),
                followees: gone,
                followed: false,
                at: now_millis(),
            });
        }
        let mut removed = removed.into_iter();
        Ok(per_item(followees, &registered, || removed.next().unwrap_or(false)))
    }

    /// One page of a registered user's fans, following or mutual list, newest first.
    pub async fn follow_page(
        &self,
        app: &AppId,
        user: &UserId,
        list: FollowList,
        page: &PageRequest,
    ) -> Result<Page<FollowEdge>> {
        self.require_registered(app, user).await?;
        self.store.follow_page(app, user, list, page).await
    }

    /// How a registered user relates to each of `others`, in input order.
    pub async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Result<Relation>>> {
        self.require_registered(app, user).await?;
        let (registered, known) = self.registered_in_order(app, others).await?;
        let mut relations = self.store.relations(app, user, &known).await?.into_iter();
        Ok(per_item(others, &registered, || relations.next().unwrap_or(Relation::None)))
    }

    /// Follow counts per user, in input order. A call made on behalf of a user needs that user registered.
    pub async fn follow_counts(
        &self,
        app: &AppId,
        on_behalf_of: Option<&UserId>,
        users: &[UserId],
    ) -> Result<Vec<Result<FollowCounts>>> {
        if let Some(asking) = on_behalf_of {
            self.require_registered(app, asking).await?;
        }
        let (registered, known) = self.registered_in_order(app, users).await?;
        let mut counts = self.store.follow_counts(app, &known).await?.into_iter();
        Ok(per_item(users, &registered, || counts.next().unwrap_or_default()))
    }
}

/// Per input: `UserNotFound` for unregistered IDs, else the next value of `known` (asked once per registered ID,
/// in order).
fn per_item<T>(ids: &[UserId], registered: &HashSet<UserId>, mut known: impl FnMut() -> T) -> Vec<Result<T>> {
    ids.iter()
        .map(|id| if registered.contains(id) { Ok(known()) } else { Err(Error::UserNotFound(id.clone())) })
        .collect()
}
