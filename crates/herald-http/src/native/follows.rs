use axum::Json;
use axum::extract::State;
use herald_core::follow::{FollowDone, FollowList, Relation};
use herald_core::{Millis, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorObject, item_error};
use super::extract::{AuthedApp, Body, PageParams, Query, UserPath, check_batch};
use crate::AppState;

pub const MAX_FOLLOWS_PER_CALL: usize = 100;
pub const MAX_CHECKS_PER_CALL: usize = 1000;

#[derive(Deserialize, ToSchema)]
pub struct FollowBody {
    follower: UserId,
    #[schema(min_items = 1, max_items = 100)]
    followees: Vec<UserId>,
}

/// What a follow call did for one followee.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Followed {
    Followed,
    AlreadyFollowing,
}

/// One followee of a follow call: followed, or why not (`self_follow`, `user_not_found`, `following_limit`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum FollowItem {
    Done { user_id: UserId, result: Followed },
    Failed { user_id: UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
pub struct FollowAnswer {
    /// One per followee, in order.
    results: Vec<FollowItem>,
}

/// Follow users. Each followee gets a result of its own: following someone already followed succeeds, and the
/// follower itself, an unregistered user or one beyond the follower's `max_following` fails alone.
#[utoipa::path(
    post,
    path = "/v1/follows",
    operation_id = "follow",
    tag = "follows",
    request_body = FollowBody,
    responses(
        (status = 200, description = "One result per followee, in order.", body = FollowAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: the follower.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn follow(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<FollowBody>,
) -> Result<Json<FollowAnswer>, ApiError> {
    check_batch(&body.followees, "followees", MAX_FOLLOWS_PER_CALL)?;
    let results = s.herald.follow(&app, &body.follower, &body.followees).await?;
    let results = body
        .followees
        .into_iter()
        .zip(results)
        .map(|(user_id, r)| match r {
            Ok(FollowDone::Followed) => FollowItem::Done { user_id, result: Followed::Followed },
            Ok(FollowDone::AlreadyFollowing) => FollowItem::Done { user_id, result: Followed::AlreadyFollowing },
            Err(e) => FollowItem::Failed { user_id, error: item_error(&e) },
        })
        .collect();
    Ok(Json(FollowAnswer { results }))
}

/// One followee of an unfollow call: whether an edge was removed (`false`: it was not followed), or
/// `user_not_found`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UnfollowItem {
    Done { user_id: UserId, removed: bool },
    Failed { user_id: UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
pub struct UnfollowAnswer {
    /// One per followee, in order.
    results: Vec<UnfollowItem>,
}

/// Unfollow users.
#[utoipa::path(
    post,
    path = "/v1/follows/delete",
    operation_id = "unfollow",
    tag = "follows",
    request_body = FollowBody,
    responses(
        (status = 200, description = "One result per followee, in order.", body = UnfollowAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: the follower.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn unfollow(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<FollowBody>,
) -> Result<Json<UnfollowAnswer>, ApiError> {
    check_batch(&body.followees, "followees", MAX_FOLLOWS_PER_CALL)?;
    let removed = s.herald.unfollow(&app.app_id, &body.follower, &body.followees).await?;
    let results = body
        .followees
        .into_iter()
        .zip(removed)
        .map(|(user_id, r)| match r {
            Ok(removed) => UnfollowItem::Done { user_id, removed },
            Err(e) => UnfollowItem::Failed { user_id, error: item_error(&e) },
        })
        .collect();
    Ok(Json(UnfollowAnswer { results }))
}

#[derive(Deserialize, ToSchema)]
pub struct CheckBody {
    user_id: UserId,
    #[schema(min_items = 1, max_items = 1000)]
    others: Vec<UserId>,
}

/// How `user_id` relates to one other user, or `user_not_found`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CheckItem {
    Done {
        user_id: UserId,
        relation: Relation,
        /// `user_id` of the call follows this user.
        i_follow: bool,
        /// This user follows `user_id` of the call.
        follows_me: bool,
    },
    Failed {
        user_id: UserId,
        error: ErrorObject,
    },
}

#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    /// One per other user, in order.
    results: Vec<CheckItem>,
}

/// How a user relates to others: who follows whom.
#[utoipa::path(
    post,
    path = "/v1/follows/check",
    operation_id = "check_follows",
    tag = "follows",
    request_body = CheckBody,
    responses(
        (status = 200, description = "One result per other user, in order.", body = CheckAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: `user_id`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn check(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<CheckBody>,
) -> Result<Json<CheckAnswer>, ApiError> {
    check_batch(&body.others, "others", MAX_CHECKS_PER_CALL)?;
    let relations = s.herald.relations(&app.app_id, &body.user_id, &body.others).await?;
    let results = body
        .others
        .into_iter()
        .zip(relations)
        .map(|(user_id, r)| match r {
            Ok(relation) => CheckItem::Done {
                user_id,
                relation,
                i_follow: relation.bits() & 2 != 0,
                follows_me: relation.bits() & 1 != 0,
            },
            Err(e) => CheckItem::Failed { user_id, error: item_error(&e) },
        })
        .collect();
    Ok(Json(CheckAnswer { results }))
}

#[derive(Deserialize, ToSchema)]
pub struct CountsBody {
    #[schema(min_items = 1, max_items = 1000)]
    user_ids: Vec<UserId>,
}

/// One user's follow counts, or `user_not_found`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CountsItem {
    Done { user_id: UserId, fans: u64, following: u64, mutual: u64 },
    Failed { user_id: UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
pub struct CountsAnswer {
    /// One per user, in order.
    results: Vec<CountsItem>,
}

/// How many fans, followees and mutual follows users have.
#[utoipa::path(
    post,
    path = "/v1/follows/counts",
    operation_id = "count_follows",
    tag = "follows",
    request_body = CountsBody,
    responses(
        (status = 200, description = "One result per user, in order.", body = CountsAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn counts(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<CountsBody>,
) -> Result<Json<CountsAnswer>, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_CHECKS_PER_CALL)?;
    let counts = s.herald.follow_counts(&app.app_id, None, &body.user_ids).await?;
    let results = body
        .user_ids
        .into_iter()
        .zip(counts)
        .map(|(user_id, c)| match c {
            Ok(c) => CountsItem::Done { user_id, fans: c.fans, following: c.following, mutual: c.mutual },
            Err(e) => CountsItem::Failed { user_id, error: item_error(&e) },
        })
        .collect();
    Ok(Json(CountsAnswer { results }))
}

/// The other end of a follow edge.
#[derive(Serialize, ToSchema)]
pub struct FollowEdgeItem {
    user_id: UserId,
    /// When the edge was made (unix milliseconds); for mutual lists, when the listed user was followed.
    #[schema(value_type = i64)]
    since: Millis,
}

/// A page of a follow list, newest first.
#[derive(Serialize, ToSchema)]
pub struct FollowPage {
    items: Vec<FollowEdgeItem>,
    /// The cursor of the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

async fn list(
    s: AppState,
    app: &herald_core::App,
    user: UserId,
    list: FollowList,
    params: PageParams,
) -> Result<Json<FollowPage>, ApiError> {
    let page = s.herald.follow_page(&app.app_id, &user, list, &params.to_request()?).await?;
    let items = page.items.into_iter().map(|e| FollowEdgeItem { user_id: e.user_id, since: e.since }).collect();
    Ok(Json(FollowPage { items, next_cursor: page.next.map(|k| k.encode()) }))
}

/// A user's fans (the users who follow it), newest first.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/fans",
    operation_id = "list_fans",
    tag = "follows",
    params(("user_id" = UserId, Path, description = "The user."), PageParams),
    responses(
        (status = 200, description = "A page of the list.", body = FollowPage),
        (status = 400, description = "`invalid_argument`: a bad user ID, cursor or `limit`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn fans(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<FollowPage>, ApiError> {
    list(s, &app, user, FollowList::Fans, params).await
}

/// The users a user follows, newest first.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/following",
    operation_id = "list_following",
    tag = "follows",
    params(("user_id" = UserId, Path, description = "The user."), PageParams),
    responses(
        (status = 200, description = "A page of the list.", body = FollowPage),
        (status = 400, description = "`invalid_argument`: a bad user ID, cursor or `limit`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn following(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<FollowPage>, ApiError> {
    list(s, &app, user, FollowList::Following, params).await
}

/// The users who follow a user and whom it follows, newest first.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/mutual",
    operation_id = "list_mutual",
    tag = "follows",
    params(("user_id" = UserId, Path, description = "The user."), PageParams),
    responses(
        (status = 200, description = "A page of the list.", body = FollowPage),
        (status = 400, description = "`invalid_argument`: a bad user ID, cursor or `limit`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn mutual(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<FollowPage>, ApiError> {
    list(s, &app, user, FollowList::Mutual, params).await
}
