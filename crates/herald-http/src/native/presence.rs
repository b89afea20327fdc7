use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use herald_core::presence::{PlatformPresence, Presence};
use herald_core::{Error, Millis, Platform, UserId};
use herald_service::PresenceReport;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, item_error};
use super::extract::{AuthedApp, Body, check_batch};
use crate::AppState;

pub const MAX_PRESENCE_QUERY: usize = 500;
const MAX_REPORT_TTL_SECS: u64 = 24 * 3600;

/// The PRESENCE object of the native API and WebSocket frames. Serialized straight from the domain values, since
/// batch queries write hundreds of them per call.
#[derive(Serialize)]
pub struct PresenceJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user_id: &'a UserId,
    online: bool,
    platforms: &'a [Platform],
    push_online: bool,
    custom_status: Option<&'a str>,
    last_seen: Option<Millis>,
    at: Millis,
    details: &'a [PlatformPresence],
}

pub fn presence_json(p: &Presence) -> PresenceJson<'_> {
    PresenceJson {
        kind: "presence",
        user_id: &p.user_id,
        online: p.view.online,
        platforms: &p.view.platforms,
        push_online: p.view.push_online,
        custom_status: p.view.custom_status.as_deref(),
        last_seen: p.last_seen,
        at: p.since,
        details: &p.details,
    }
}

/// One item of a batch presence answer: the presence, or why there is none.
#[derive(Serialize)]
struct QueryItem<'a> {
    user_id: &'a UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<PresenceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

#[derive(Deserialize)]
pub struct QueryBody {
    user_ids: Vec<UserId>,
}

pub async fn query(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<QueryBody>,
) -> Result<Response, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_PRESENCE_QUERY)?;
    let presences = s.herald.presences(&app.app_id, None, &body.user_ids).await?;
    let results: Vec<QueryItem> = body
        .user_ids
        .iter()
        .zip(&presences)
        .map(|(id, p)| QueryItem {
            user_id: id,
            presence: p.as_ref().map(presence_json),
            error: p.is_none().then(|| item_error(&Error::UserNotFound(id.clone()))),
        })
        .collect();
    // Serialized here, straight from the borrowed values: no intermediate JSON tree on the hottest read.
    Ok(Json(QueryAnswer { results }).into_response())
}

#[derive(Serialize)]
struct QueryAnswer<'a> {
    results: Vec<QueryItem<'a>>,
}

#[derive(Deserialize)]
pub struct ReportBody {
    user_id: UserId,
    online: bool,
    #[serde(default)]
    platform: Option<Platform>,
    /// Seconds the online report holds unless refreshed.
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    background: bool,
}

pub async fn report(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<ReportBody>,
) -> Result<Json<Value>, ApiError> {
    let report = if body.online {
        let platform = body.platform.ok_or_else(|| ApiError::invalid("platform is required when online is true"))?;
        let ttl = body.ttl.ok_or_else(|| ApiError::invalid("ttl (seconds) is required when online is true"))?;
        if !(1..=MAX_REPORT_TTL_SECS).contains(&ttl) {
            return Err(ApiError::invalid(format!("ttl must be 1..={MAX_REPORT_TTL_SECS} seconds")));
        }
        PresenceReport::Online { platform, ttl: Duration::from_secs(ttl), background: body.background }
    } else {
        PresenceReport::Offline { platform: body.platform }
    };
    let presence = s.herald.report_presence(&app.app_id, &body.user_id, report).await?;
    Ok(Json(json!(presence_json(&presence))))
}

#[derive(Deserialize)]
pub struct KickBody {
    user_id: UserId,
    #[serde(default)]
    platform: Option<Platform>,
}

pub async fn kick(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<KickBody>,
) -> Result<Json<Value>, ApiError> {
    let kicked = s.herald.kick(&app.app_id, &body.user_id, body.platform, "kicked by the app server").await?;
    Ok(Json(json!({ "user_id": body.user_id, "kicked": kicked })))
}
