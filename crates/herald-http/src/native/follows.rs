use axum::Json;
use axum::extract::State;
use herald_core::UserId;
use herald_core::follow::{FollowDone, FollowList};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, item_error};
use super::extract::{AuthedApp, Body, PageParams, Query, UserPath, check_batch};
use crate::AppState;

pub const MAX_FOLLOWS_PER_CALL: usize = 100;
pub const MAX_CHECKS_PER_CALL: usize = 1000;

#[derive(Deserialize)]
pub struct FollowBody {
    follower: UserId,
    followees: Vec<UserId>,
}

pub async fn follow(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<FollowBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.followees, "followees", MAX_FOLLOWS_PER_CALL)?;
    let results = s.herald.follow(&app, &body.follower, &body.followees).await?;
    let results: Vec<Value> = body
        .followees
        .iter()
        .zip(results)
        .map(|(id, r)| match r {
            Ok(FollowDone::Followed) => json!({"user_id": id, "result": "followed"}),
            Ok(FollowDone::AlreadyFollowing) => json!({"user_id": id, "result": "already_following"}),
            Err(e) => json!({"user_id": id, "error": item_error(&e)}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

pub async fn unfollow(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<FollowBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.followees, "followees", MAX_FOLLOWS_PER_CALL)?;
    let removed = s.herald.unfollow(&app.app_id, &body.follower, &body.followees).await?;
    let results: Vec<Value> = body
        .followees
        .iter()
        .zip(removed)
        .map(|(id, r)| match r {
            Ok(removed) => json!({"user_id": id, "removed": removed}),
            Err(e) => json!({"user_id": id, "error": item_error(&e)}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
pub struct CheckBody {
    user_id: UserId,
    others: Vec<UserId>,
}

pub async fn check(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<CheckBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.others, "others", MAX_CHECKS_PER_CALL)?;
    let relations = s.herald.relations(&app.app_id, &body.user_id, &body.others).await?;
    let results: Vec<Value> = body
        .others
        .iter()
        .zip(relations)
        .map(|(id, r)| match r {
            Ok(r) => json!({
                "user_id": id,
                "relation": r,
                "i_follow": r.bits() & 2 != 0,
                "follows_me": r.bits() & 1 != 0,
            }),
            Err(e) => json!({"user_id": id, "error": item_error(&e)}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
pub struct CountsBody {
    user_ids: Vec<UserId>,
}

pub async fn counts(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<CountsBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_CHECKS_PER_CALL)?;
    let counts = s.herald.follow_counts(&app.app_id, None, &body.user_ids).await?;
    let results: Vec<Value> = body
        .user_ids
        .iter()
        .zip(counts)
        .map(|(id, c)| match c {
            Ok(c) => json!({"user_id": id, "fans": c.fans, "following": c.following, "mutual": c.mutual}),
            Err(e) => json!({"user_id": id, "error": item_error(&e)}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn list(
    s: AppState,
    app: &herald_core::App,
    user: UserId,
    list: FollowList,
    params: PageParams,
) -> Result<Json<Value>, ApiError> {
    let page = s.herald.follow_page(&app.app_id, &user, list, &params.to_request()?).await?;
    let items: Vec<Value> = page.items.iter().map(|e| json!({"user_id": e.user_id, "since": e.since})).collect();
    Ok(Json(json!({ "items": items, "next_cursor": page.next.map(|k| k.encode()) })))
}

pub async fn fans(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    list(s, &app, user, FollowList::Fans, params).await
}

pub async fn following(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    list(s, &app, user, FollowList::Following, params).await
}

pub async fn mutual(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user): UserPath,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    list(s, &app, user, FollowList::Mutual, params).await
}
