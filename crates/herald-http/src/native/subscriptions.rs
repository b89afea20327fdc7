use axum::Json;
use axum::extract::State;
use herald_core::paging::Page;
use herald_core::subscription::{Subscription, SubscriptionKind};
use herald_core::{Error, UserId};
use herald_service::UnknownTargets;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, item_error};
use super::extract::{AuthedApp, Body, PageParams, Query, UserPath, check_batch};
use super::presence::presence_json;
use crate::AppState;

/// Most targets one subscribe or unsubscribe call may name.
pub const MAX_TARGETS_PER_CALL: usize = 200;

#[derive(Deserialize)]
pub struct SubscribeBody {
    subscriber: UserId,
    targets: Vec<UserId>,
    #[serde(default = "online_status")]
    kind: SubscriptionKind,
    /// Lifetime in seconds; absent for no expiry.
    #[serde(default)]
    expiry: Option<i64>,
}

fn online_status() -> SubscriptionKind {
    SubscriptionKind::OnlineStatus
}

pub async fn subscribe(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<SubscribeBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.targets, "targets", MAX_TARGETS_PER_CALL)?;
    let result = s
        .herald
        .subscribe(&app, &body.subscriber, &body.targets, body.kind, body.expiry, UnknownTargets::Report)
        .await?;
    let (outcome, not_found) = (&result.outcome, &result.not_found);
    let results: Vec<Value> = body
        .targets
        .iter()
        .map(|t| {
            if outcome.subscribed.contains(t) {
                json!({"user_id": t, "result": "subscribed"})
            } else if not_found.contains(t) {
                json!({"user_id": t, "error": item_error(&Error::UserNotFound(t.clone()))})
            } else {
                let limit = app.limits.max_subscribers_per_target;
                json!({"user_id": t, "error": item_error(&Error::TargetLimit { limit })})
            }
        })
        .collect();
    Ok(Json(json!({
        "results": results,
        "subscribed": outcome.subscribed,
        "targets_at_limit": outcome.targets_at_limit,
        "presences": result.presences.iter().map(presence_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
pub struct UnsubscribeBody {
    subscriber: UserId,
    targets: Vec<UserId>,
    #[serde(default = "online_status")]
    kind: SubscriptionKind,
}

pub async fn unsubscribe(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<UnsubscribeBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(&body.targets, "targets", MAX_TARGETS_PER_CALL)?;
    let result =
        s.herald.unsubscribe(&app.app_id, &body.subscriber, &body.targets, body.kind, UnknownTargets::Report).await?;
    let results: Vec<Value> = body
        .targets
        .iter()
        .map(|t| match result.not_found.contains(t) {
            true => json!({"user_id": t, "error": item_error(&Error::UserNotFound(t.clone()))}),
            false => json!({"user_id": t, "removed": result.removed.contains(t)}),
        })
        .collect();
    Ok(Json(json!({ "results": results, "removed": result.removed })))
}

#[derive(Deserialize)]
pub struct ListParams {
    cursor: Option<String>,
    limit: Option<usize>,
    #[serde(default = "online_status")]
    kind: SubscriptionKind,
}

impl ListParams {
    fn page(&self) -> PageParams {
        PageParams { cursor: self.cursor.clone(), limit: self.limit }
    }
}

fn page_json(page: Page<Subscription>, other: impl Fn(&Subscription) -> &UserId) -> Value {
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|x| {
            json!({
                "user_id": other(x),
                "kind": x.kind,
                "subscribed_at": x.subscribed_at,
                "expiry": x.expiry_secs,
                "expires_at": x.expires_at,
            })
        })
        .collect();
    json!({ "items": items, "next_cursor": page.next.map(|k| k.encode()) })
}

/// Which side of the subscriptions a list shows.
#[derive(Clone, Copy)]
enum Side {
    /// The targets a subscriber watches.
    Targets,
    /// The subscribers watching a target.
    Subscribers,
}

async fn list(
    s: AppState,
    app: &herald_core::App,
    user: UserId,
    params: ListParams,
    side: Side,
) -> Result<Json<Value>, ApiError> {
    let request = params.page().to_request()?;
    Ok(Json(match side {
        Side::Targets => {
            page_json(s.herald.subscriptions_of(&app.app_id, &user, params.kind, &request).await?, |x| &x.target)
        }
        Side::Subscribers => {
            page_json(s.herald.subscribers_of(&app.app_id, &user, params.kind, &request).await?, |x| &x.subscriber)
        }
    }))
}

pub async fn list_of_subscriber(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user_id): UserPath,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    list(s, &app, user_id, params, Side::Targets).await
}

pub async fn list_of_target(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user_id): UserPath,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    list(s, &app, user_id, params, Side::Subscribers).await
}
