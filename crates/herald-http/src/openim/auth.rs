//! `/auth/*`: admin and user tokens, parsing them, and forced logout.

use std::sync::Arc;

use herald_core::Platform;
use herald_service::SessionHolder;
use serde::{Deserialize, Serialize};

use super::error::OpenImError;
use super::settings::OpenImApps;
use super::token::{self, ADMIN_PLATFORM_ID, TOKEN_LIFETIME_SECS};
use super::wire::{Caller, OpenImResult, Reply, nullable, user_id};
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
pub async fn get_admin_token(s: AppState, apps: Arc<OpenImApps>, req: GetAdminTokenReq) -> OpenImResult {
    let app = apps.by_secret(&req.secret).ok_or_else(|| OpenImError::no_permission("secret invalid"))?;
    if !app.settings.is_admin(&req.user_id) {
        return Err(OpenImError::args(format!("userID {:?} is not an admin user ID of the app", req.user_id)));
    }
    let admin = user_id(&req.user_id, "userID")?;
    let issued = token::issue(&s.herald, app, SessionHolder::Admin(admin)).await?;
    Reply::data(TokenResp { token: issued.token, expire_time_seconds: TOKEN_LIFETIME_SECS })
}

#[derive(Deserialize)]
pub struct GetUserTokenReq {
    #[serde(rename = "platformID", default, deserialize_with = "nullable")]
    platform_id: i64,
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

pub async fn get_user_token(s: AppState, caller: Caller, req: GetUserTokenReq) -> OpenImResult {
    let user = user_id(&req.user_id, "userID")?;
    caller.require_admin()?;
    if req.platform_id == ADMIN_PLATFORM_ID {
        return Err(OpenImError::no_permission("platformID invalid. platformID must not be adminPlatformID"));
    }
    if caller.openim.settings.is_admin(&req.user_id) {
        return Err(OpenImError::no_permission("don't get Admin token"));
    }
    let platform = client_platform(req.platform_id)?;
    let issued = token::issue(&s.herald, &caller.openim, SessionHolder::Client { user, platform }).await?;
    Reply::data(TokenResp { token: issued.token, expire_time_seconds: TOKEN_LIFETIME_SECS })
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

pub async fn parse_token(s: AppState, apps: Arc<OpenImApps>, req: ParseTokenReq) -> OpenImResult {
    let verified = token::verify(&s.herald, &apps, &req.token).await?;
    Reply::data(ParseTokenResp {
        user_id: verified.claims.user_id,
        platform_id: verified.claims.platform_id,
        expire_time_seconds: verified.claims.exp,
    })
}

#[derive(Deserialize)]
pub struct ForceLogoutReq {
    #[serde(rename = "platformID", default, deserialize_with = "nullable")]
    platform_id: i64,
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

/// Close the user's connections on the platform and kick the platform's tokens.
pub async fn force_logout(s: AppState, caller: Caller, req: ForceLogoutReq) -> OpenImResult {
    let user = user_id(&req.user_id, "userID")?;
    let platform = client_platform(req.platform_id)?;
    caller.require_admin()?;
    s.herald.force_logout(&caller.app.app_id, &user, Some(platform)).await?;
    Ok(Reply::empty())
}

/// A client platform ID (1..9, 11); the admin pseudo-platform 10 is not one.
fn client_platform(id: i64) -> Result<Platform, OpenImError> {
    Platform::from_id(id).map_err(|_| OpenImError::args(format!("platformID {id} is invalid; expected 1..9 or 11")))
}
