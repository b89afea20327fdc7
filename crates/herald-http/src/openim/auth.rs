//! `/auth/*`: admin and user tokens, parsing them, and forced logout.

use axum::extract::State;
use herald_core::Platform;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::envelope::{OpenImResult, Reply};
use super::error::OpenImError;
use super::extract::{Caller, OpenImJson, nullable, user_id};
use super::token::{self, ADMIN_PLATFORM_ID, TOKEN_LIFETIME_SECS};
use crate::AppState;

#[derive(Serialize)]
pub struct TokenResp {
    token: String,
    #[serde(rename = "expireTimeSeconds")]
    expire_time_seconds: i64,
}

#[derive(Deserialize)]
pub struct GetAdminTokenReq {
    #[serde(default, deserialize_with = "nullable")]
    secret: String,
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

/// The secret names the app: the one whose OpenIM secret it is.
pub async fn get_admin_token(
    State(s): State<AppState>,
    OpenImJson(req): OpenImJson<GetAdminTokenReq>,
) -> OpenImResult<TokenResp> {
    let app = s
        .herald
        .apps
        .all()
        .find(|a| a.openim.as_ref().is_some_and(|o| !req.secret.is_empty() && secrets_equal(&o.secret, &req.secret)))
        .cloned()
        .ok_or_else(|| OpenImError::no_permission("secret invalid"))?;
    let is_admin = app.openim.as_ref().is_some_and(|o| o.is_admin(&req.user_id));
    if !is_admin {
        return Err(OpenImError::args(format!("userID {:?} is not an admin user ID of the app", req.user_id)));
    }
    let admin = user_id(&req.user_id, "userID")?;
    let issued = token::issue(&s.herald, &app, &admin, None).await?;
    Ok(Reply::data(TokenResp { token: issued.token, expire_time_seconds: TOKEN_LIFETIME_SECS }))
}

fn secrets_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[derive(Deserialize)]
pub struct GetUserTokenReq {
    #[serde(rename = "platformID", default, deserialize_with = "nullable")]
    platform_id: i64,
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

pub async fn get_user_token(
    State(s): State<AppState>,
    caller: Caller,
    OpenImJson(req): OpenImJson<GetUserTokenReq>,
) -> OpenImResult<TokenResp> {
    let user = user_id(&req.user_id, "userID")?;
    caller.require_admin()?;
    if req.platform_id == ADMIN_PLATFORM_ID {
        return Err(OpenImError::no_permission("platformID invalid. platformID must not be adminPlatformID"));
    }
    if caller.app.openim.as_ref().is_some_and(|o| o.is_admin(&req.user_id)) {
        return Err(OpenImError::no_permission("don't get Admin token"));
    }
    let platform = client_platform(req.platform_id)?;
    s.herald.require_users(&caller.app.app_id, std::slice::from_ref(&user)).await?;
    let issued = token::issue(&s.herald, &caller.app, &user, Some(platform)).await?;
    Ok(Reply::data(TokenResp { token: issued.token, expire_time_seconds: TOKEN_LIFETIME_SECS }))
}

#[derive(Deserialize)]
pub struct ParseTokenReq {
    #[serde(default, deserialize_with = "nullable")]
    token: String,
}

#[derive(Serialize)]
pub struct ParseTokenResp {
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "platformID")]
    platform_id: i64,
    /// The token's expiry as an absolute unix time in seconds (upstream's name notwithstanding).
    #[serde(rename = "expireTimeSeconds")]
    expire_time_seconds: i64,
}

pub async fn parse_token(
    State(s): State<AppState>,
    OpenImJson(req): OpenImJson<ParseTokenReq>,
) -> OpenImResult<ParseTokenResp> {
    let verified = token::verify(&s.herald, &req.token).await?;
    Ok(Reply::data(ParseTokenResp {
        user_id: verified.claims.user_id,
        platform_id: verified.claims.platform_id,
        expire_time_seconds: verified.claims.exp,
    }))
}

#[derive(Deserialize)]
pub struct ForceLogoutReq {
    #[serde(rename = "platformID", default, deserialize_with = "nullable")]
    platform_id: i64,
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

/// Close the user's connections on the platform and kick the platform's tokens.
pub async fn force_logout(
    State(s): State<AppState>,
    caller: Caller,
    OpenImJson(req): OpenImJson<ForceLogoutReq>,
) -> OpenImResult<()> {
    let user = user_id(&req.user_id, "userID")?;
    let platform = client_platform(req.platform_id)?;
    caller.require_admin()?;
    let app = &caller.app.app_id;
    s.herald.require_users(app, std::slice::from_ref(&user)).await?;
    s.herald.store.kick_tokens(app, &user, Some(platform)).await?;
    s.herald.kick(app, &user, Some(platform), "forced logout").await?;
    Ok(Reply::empty())
}

/// A client platform ID (1..9, 11); the admin pseudo-platform 10 is not one.
fn client_platform(id: i64) -> Result<Platform, OpenImError> {
    Platform::from_id(id).map_err(|_| OpenImError::args(format!("platformID {id} is invalid; expected 1..9 or 11")))
}
