use axum::Json;
use axum::extract::State;
use herald_core::store::{NewUser, RegisterMode, UserRecord};
use herald_core::{Error, Millis, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AuthedApp, Body, UserPath, check_batch};
use crate::AppState;

/// Most users one register or delete call may carry.
pub const MAX_USERS_PER_CALL: usize = 1000;

#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(min_items = 1, max_items = 1000)]
    users: Vec<NewUser>,
}

/// Whether one user of a register call was created or was there already.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    user_id: UserId,
    created: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterAnswer {
    /// One per user of the call, in order.
    results: Vec<Registered>,
}

/// Register users. Registering an existing ID is not an error: its `created` is `false` and its profile is kept.
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "register_users",
    tag = "users",
    request_body = RegisterBody,
    responses(
        (status = 200, description = "One result per user, in order.", body = RegisterAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn register(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<RegisterBody>,
) -> Result<Json<RegisterAnswer>, ApiError> {
    check_batch(&body.users, "users", MAX_USERS_PER_CALL)?;
    let results = s.herald.register_users(&app.app_id, &body.users, RegisterMode::KeepExisting).await?;
    let results = results.into_iter().map(|r| Registered { user_id: r.user_id, created: r.created }).collect();
    Ok(Json(RegisterAnswer { results }))
}

/// A registered user.
#[derive(Serialize, ToSchema)]
pub struct UserAnswer {
    user_id: UserId,
    #[schema(required = true)]
    nickname: Option<String>,
    #[schema(required = true)]
    face_url: Option<String>,
    /// When the user was registered (unix milliseconds).
    #[schema(value_type = i64)]
    created_at: Millis,
    /// When the user was last online, as of its last offline transition (unix milliseconds).
    #[schema(required = true, value_type = Option<i64>)]
    last_seen: Option<Millis>,
}

impl From<UserRecord> for UserAnswer {
    fn from(u: UserRecord) -> Self {
        Self {
            user_id: u.user_id,
            nickname: u.nickname,
            face_url: u.face_url,
            created_at: u.created_at,
            last_seen: u.last_seen,
        }
    }
}

/// A registered user's profile.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}",
    operation_id = "get_user",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user.")),
    responses(
        (status = 200, description = "The user.", body = UserAnswer),
        (status = 400, description = "`invalid_argument`: the user ID in the path is not one.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn get(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(id): UserPath,
) -> Result<Json<UserAnswer>, ApiError> {
    let user = s.herald.user(&app.app_id, &id).await?;
    Ok(Json(user.into()))
}

/// Whether a user was deleted (`false`: it did not exist).
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    user_id: UserId,
    deleted: bool,
}

/// Delete a user with all its subscriptions and follows, and close its connections.
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}",
    operation_id = "delete_user",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user.")),
    responses(
        (status = 200, description = "`deleted` is `true`.", body = Deleted),
        (status = 400, description = "`invalid_argument`: the user ID in the path is not one.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: it did not exist.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn delete_one(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(id): UserPath,
) -> Result<Json<Deleted>, ApiError> {
    let existed = s.herald.delete_users(&app.app_id, std::slice::from_ref(&id)).await?;
    if !existed.first().copied().unwrap_or(false) {
        return Err(Error::UserNotFound(id).into());
    }
    Ok(Json(Deleted { user_id: id, deleted: true }))
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteBody {
    #[schema(min_items = 1, max_items = 1000)]
    user_ids: Vec<UserId>,
}

#[derive(Serialize, ToSchema)]
pub struct DeleteAnswer {
    /// One per user of the call, in order.
    results: Vec<Deleted>,
}

/// Delete users with all their subscriptions and follows, and close their connections.
#[utoipa::path(
    post,
    path = "/v1/users/delete",
    operation_id = "delete_users",
    tag = "users",
    request_body = DeleteBody,
    responses(
        (status = 200, description = "One result per user, in order; `deleted` is `false` for one that did not exist.", body = DeleteAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn delete_batch(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<DeleteBody>,
) -> Result<Json<DeleteAnswer>, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_USERS_PER_CALL)?;
    let existed = s.herald.delete_users(&app.app_id, &body.user_ids).await?;
    let results =
        body.user_ids.into_iter().zip(existed).map(|(user_id, deleted)| Deleted { user_id, deleted }).collect();
    Ok(Json(DeleteAnswer { results }))
}
