use axum::Json;
use axum::extract::State;
use herald_core::store::{NewUser, RegisterMode, UserRecord};
use herald_core::{Error, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{AuthedApp, Body, UserPath, check_batch};
use crate::AppState;

/// Most users one register or delete call may carry.
pub const MAX_USERS_PER_CALL: usize = 1000;

#[derive(Deserialize)]
pub struct RegisterBody {
    users: Vec<NewUser>,
}

pub async fn register(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<RegisterBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.users, "users", MAX_USERS_PER_CALL)?;
    let results = s.herald.register_users(&app.app_id, &body.users, RegisterMode::KeepExisting).await?;
    let results: Vec<Value> = results.iter().map(|r| json!({"user_id": r.user_id, "created": r.created})).collect();
    Ok(Json(json!({ "results": results })))
}

pub fn user_json(u: &UserRecord) -> Value {
    json!({
        "user_id": u.user_id,
        "nickname": u.nickname,
        "face_url": u.face_url,
        "created_at": u.created_at,
        "last_seen": u.last_seen,
    })
}

pub async fn get(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(id): UserPath,
) -> Result<Json<Value>, ApiError> {
    let user = s.herald.user(&app.app_id, &id).await?;
    Ok(Json(user_json(&user)))
}

pub async fn delete_one(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(id): UserPath,
) -> Result<Json<Value>, ApiError> {
    let existed = s.herald.delete_users(&app.app_id, std::slice::from_ref(&id)).await?;
    if !existed.first().copied().unwrap_or(false) {
        return Err(Error::UserNotFound(id).into());
    }
    Ok(Json(json!({ "user_id": id, "deleted": true })))
}

#[derive(Deserialize)]
pub struct DeleteBody {
    user_ids: Vec<UserId>,
}

pub async fn delete_batch(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<DeleteBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_USERS_PER_CALL)?;
    let existed = s.herald.delete_users(&app.app_id, &body.user_ids).await?;
    let results: Vec<Value> =
        body.user_ids.iter().zip(existed).map(|(id, deleted)| json!({"user_id": id, "deleted": deleted})).collect();
    Ok(Json(json!({ "results": results })))
}
