use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use herald_core::presence::{PlatformPresence, Presence};
use herald_core::{Error, Millis, Platform, UserId};
use herald_service::PresenceReport;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorObject, item_error};
use super::extract::{AuthedApp, Body, check_batch};
use crate::AppState;

pub const MAX_PRESENCE_QUERY: usize = 500;
const MAX_REPORT_TTL_SECS: u64 = 24 * 3600;

/// The `type` tag of a presence object.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceTag {
    Presence,
}

/// A user's presence, as the native API and the WebSocket frames show it. Serialized straight from the domain
/// values, since batch queries write hundreds of them per call.
#[derive(Serialize, ToSchema)]
#[schema(as = Presence)]
pub struct PresenceJson<'a> {
    #[serde(rename = "type")]
    kind: PresenceTag,
    user_id: &'a UserId,
    online: bool,
    /// Platforms with a live connection, sorted by platform ID.
    platforms: &'a [Platform],
    /// Online only through background connections.
    push_online: bool,
    #[schema(required = true)]
    custom_status: Option<&'a str>,
    /// When an offline user was last online (unix milliseconds); `null` while online and for users never seen.
    #[schema(required = true, value_type = Option<i64>)]
    last_seen: Option<Millis>,
    /// When the current state began (unix milliseconds); 0 for a user never seen online.
    #[schema(value_type = i64)]
    at: Millis,
    details: &'a [PlatformPresence],
}

pub fn presence_json(p: &Presence) -> PresenceJson<'_> {
    PresenceJson {
        kind: PresenceTag::Presence,
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
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum QueryItem<'a> {
    Found { user_id: &'a UserId, presence: PresenceJson<'a> },
    Failed { user_id: &'a UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
struct QueryAnswer<'a> {
    /// One per user of the call, in order.
    results: Vec<QueryItem<'a>>,
}

#[derive(Deserialize, ToSchema)]
pub struct QueryBody {
    #[schema(min_items = 1, max_items = 500)]
    user_ids: Vec<UserId>,
}

/// The presence of many users, with per-platform detail; an unregistered user gets an error of its own.
#[utoipa::path(
    post,
    path = "/v1/presence/query",
    operation_id = "query_presence",
    tag = "presence",
    request_body = QueryBody,
    responses(
        (status = 200, description = "One result per user, in order: its presence, or `user_not_found`.", body = QueryAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn query(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<QueryBody>,
) -> Result<Response, ApiError> {
    check_batch(&body.user_ids, "user_ids", MAX_PRESENCE_QUERY)?;
    let presences = s.herald.presences(&app.app_id, None, &body.user_ids).await?;
    let results = body
        .user_ids
        .iter()
        .zip(&presences)
        .map(|(id, p)| match p {
            Some(p) => QueryItem::Found { user_id: id, presence: presence_json(p) },
            None => QueryItem::Failed { user_id: id, error: item_error(&Error::UserNotFound(id.clone())) },
        })
        .collect();
    // Serialized here, straight from the borrowed values: no intermediate JSON tree on the hottest read.
    Ok(Json(QueryAnswer { results }).into_response())
}

/// A report: read as one struct, described as the two shapes the rules below allow (see [`report_schema`]).
#[derive(Deserialize)]
pub struct ReportBody {
    user_id: UserId,
    online: bool,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    background: bool,
}

impl utoipa::PartialSchema for ReportBody {
    fn schema() -> RefOr<Schema> {
        report_schema()
    }
}

impl ToSchema for ReportBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((<UserId as ToSchema>::name().into(), UserId::schema()));
        schemas.push((<Platform as ToSchema>::name().into(), Platform::schema()));
    }
}

/// `{"online":true}` needs a platform and a TTL; `{"online":false}` takes an optional platform (absent: every
/// reported platform), and ignores a TTL and `background`.
fn report_schema() -> RefOr<Schema> {
    let reference = |name: std::borrow::Cow<'static, str>| Ref::from_schema_name(name);
    let online = |value: bool| ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([value]));
    let background = ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .default(Some(false.into()))
        .description(Some("Report the platform online in the background (\"push online\")."));
    let online_report = ObjectBuilder::new()
        .title(Some("Online"))
        .property("user_id", reference(<UserId as ToSchema>::name()))
        .property("online", online(true))
        .property("platform", reference(<Platform as ToSchema>::name()))
        .property(
            "ttl",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_REPORT_TTL_SECS as f64))
                .description(Some("Seconds the report holds unless refreshed.")),
        )
        .property("background", background)
        .required("user_id")
        .required("online")
        .required("platform")
        .required("ttl");
    let offline_report = ObjectBuilder::new()
        .title(Some("Offline"))
        .property("user_id", reference(<UserId as ToSchema>::name()))
        .property("online", online(false))
        .property(
            "platform",
            OneOfBuilder::new()
                .item(reference(<Platform as ToSchema>::name()))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("Only this platform; every reported platform when absent.")),
        )
        .property("ttl", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).description(Some("Ignored.")))
        .property("background", ObjectBuilder::new().schema_type(Type::Boolean).description(Some("Ignored.")))
        .required("user_id")
        .required("online");
    OneOfBuilder::new().item(online_report).item(offline_report).into()
}

/// Report a user online on a platform for a while, or offline, as an app server that knows better than the
/// gateway. Answers the user's presence after the report.
#[utoipa::path(
    post,
    path = "/v1/presence/report",
    operation_id = "report_presence",
    tag = "presence",
    request_body = ReportBody,
    responses(
        (status = 200, description = "The presence after the report.", body = PresenceJson),
        (status = 400, description = "`invalid_argument` (a missing `platform` or `ttl`, a `ttl` out of range), `malformed_json`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn report(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<ReportBody>,
) -> Result<Response, ApiError> {
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
    Ok(Json(presence_json(&presence)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct KickBody {
    user_id: UserId,
    /// Only this platform's connections; all of them when absent.
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Serialize, ToSchema)]
pub struct KickAnswer {
    user_id: UserId,
    /// How many connections were closed.
    kicked: usize,
}

/// Close a user's connections (on one platform, or all); each is closed with code 4000.
#[utoipa::path(
    post,
    path = "/v1/connections/kick",
    operation_id = "kick_connections",
    tag = "presence",
    request_body = KickBody,
    responses(
        (status = 200, description = "How many connections were closed.", body = KickAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn kick(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<KickBody>,
) -> Result<Json<KickAnswer>, ApiError> {
    let kicked = s.herald.kick(&app.app_id, &body.user_id, body.platform, "kicked by the app server").await?;
    Ok(Json(KickAnswer { user_id: body.user_id, kicked }))
}
