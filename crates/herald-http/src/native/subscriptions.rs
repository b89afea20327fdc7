use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use herald_core::paging::Page;
use herald_core::subscription::{Subscription, SubscriptionKind};
use herald_core::{Error, Millis, UserId};
use herald_service::UnknownTargets;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorObject, item_error};
use super::extract::{AuthedApp, Body, PageParams, Query, UserPath, check_batch};
use super::presence::{PresenceJson, presence_json};
use crate::AppState;

/// Most targets one subscribe or unsubscribe call may name.
pub const MAX_TARGETS_PER_CALL: usize = 200;

#[derive(Deserialize, ToSchema)]
pub struct SubscribeBody {
    subscriber: UserId,
    #[schema(min_items = 1, max_items = 200)]
    targets: Vec<UserId>,
    #[serde(default = "online_status")]
    #[schema(default = "online_status")]
    kind: SubscriptionKind,
    /// Lifetime in seconds (at most ten years); absent for no expiry.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 315360000)]
    expiry: Option<i64>,
}

fn online_status() -> SubscriptionKind {
    SubscriptionKind::OnlineStatus
}

/// What a subscribe call did for one target.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subscribed {
    Subscribed,
}

/// One target of a subscribe call: subscribed, or why not (`user_not_found`, `target_limit`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SubscribeItem {
    Done { user_id: UserId, result: Subscribed },
    Failed { user_id: UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
pub struct SubscribeAnswer<'a> {
    /// One per target, in order.
    results: Vec<SubscribeItem>,
    /// The targets now subscribed (new or refreshed).
    subscribed: &'a [UserId],
    /// The targets left out because they already have the most subscribers they may have.
    targets_at_limit: &'a [UserId],
    /// The presence of each subscribed target.
    presences: Vec<PresenceJson<'a>>,
}

/// Subscribe to the online status of users. A target that is not registered, or that already has
/// `max_subscribers_per_target` live subscribers, fails on its own; the others are subscribed.
#[utoipa::path(
    post,
    path = "/v1/subscriptions",
    operation_id = "subscribe",
    tag = "subscriptions",
    request_body = SubscribeBody,
    responses(
        (status = 200, description = "One result per target, in order, and the subscribed targets' presence.", body = SubscribeAnswer),
        (status = 400, description = "`invalid_argument` (an `expiry` out of range), `malformed_json`, `too_many_items`, `self_subscription` (nothing of the call is applied).", body = ErrorBody),
        (status = 404, description = "`user_not_found`: the subscriber.", body = ErrorBody),
        (status = 409, description = "`subscriber_limit`: the subscriber would hold more than `max_subscriptions_per_subscriber` live subscriptions; nothing of the call is applied.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn subscribe(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<SubscribeBody>,
) -> Result<Response, ApiError> {
    check_batch(&body.targets, "targets", MAX_TARGETS_PER_CALL)?;
    let result = s
        .herald
        .subscribe(&app, &body.subscriber, &body.targets, body.kind, body.expiry, UnknownTargets::Report)
        .await?;
    let (outcome, not_found) = (&result.outcome, &result.not_found);
    let results = body
        .targets
        .iter()
        .map(|t| {
            let user_id = t.clone();
            if outcome.subscribed.contains(t) {
                SubscribeItem::Done { user_id, result: Subscribed::Subscribed }
            } else if not_found.contains(t) {
                SubscribeItem::Failed { user_id, error: item_error(&Error::UserNotFound(t.clone())) }
            } else {
                let limit = app.limits.max_subscribers_per_target;
                SubscribeItem::Failed { user_id, error: item_error(&Error::TargetLimit { limit }) }
            }
        })
        .collect();
    let answer = SubscribeAnswer {
        results,
        subscribed: &outcome.subscribed,
        targets_at_limit: &outcome.targets_at_limit,
        presences: result.presences.iter().map(presence_json).collect(),
    };
    Ok(Json(answer).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct UnsubscribeBody {
    subscriber: UserId,
    #[schema(min_items = 1, max_items = 200)]
    targets: Vec<UserId>,
    #[serde(default = "online_status")]
    #[schema(default = "online_status")]
    kind: SubscriptionKind,
}

/// One target of an unsubscribe call: whether a subscription was removed (`false`: there was none), or
/// `user_not_found`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UnsubscribeItem {
    Done { user_id: UserId, removed: bool },
    Failed { user_id: UserId, error: ErrorObject },
}

#[derive(Serialize, ToSchema)]
pub struct UnsubscribeAnswer {
    /// One per target, in order.
    results: Vec<UnsubscribeItem>,
    /// The targets whose subscription was removed.
    removed: Vec<UserId>,
}

/// Remove subscriptions.
#[utoipa::path(
    post,
    path = "/v1/subscriptions/delete",
    operation_id = "unsubscribe",
    tag = "subscriptions",
    request_body = UnsubscribeBody,
    responses(
        (status = 200, description = "One result per target, in order.", body = UnsubscribeAnswer),
        (status = 400, description = "`invalid_argument`, `malformed_json`, `too_many_items`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: the subscriber.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn unsubscribe(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<UnsubscribeBody>,
) -> Result<Json<UnsubscribeAnswer>, ApiError> {
    check_batch(&body.targets, "targets", MAX_TARGETS_PER_CALL)?;
    let result =
        s.herald.unsubscribe(&app.app_id, &body.subscriber, &body.targets, body.kind, UnknownTargets::Report).await?;
    let results = body
        .targets
        .iter()
        .map(|t| match result.not_found.contains(t) {
            true => UnsubscribeItem::Failed { user_id: t.clone(), error: item_error(&Error::UserNotFound(t.clone())) },
            false => UnsubscribeItem::Done { user_id: t.clone(), removed: result.removed.contains(t) },
        })
        .collect();
    Ok(Json(UnsubscribeAnswer { results, removed: result.removed }))
}

/// `?cursor=&limit=&kind=` of the subscription lists.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Where the page starts: the `next_cursor` of the page before; absent or empty for the first page.
    cursor: Option<String>,
    /// Most items on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Which subscriptions to list (default `online_status`).
    #[serde(default = "online_status")]
    #[param(inline)]
    kind: SubscriptionKind,
}

impl ListParams {
    fn page(&self) -> PageParams {
        PageParams { cursor: self.cursor.clone(), limit: self.limit }
    }
}

/// One subscription of a list: the user at its other end, and its lifetime.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionItem {
    user_id: UserId,
    kind: SubscriptionKind,
    /// When it was made or last refreshed (unix milliseconds).
    #[schema(value_type = i64)]
    subscribed_at: Millis,
    /// The lifetime asked for, in seconds; `null` without expiry.
    #[schema(required = true)]
    expiry: Option<i64>,
    /// When it expires (unix milliseconds); `null` without expiry.
    #[schema(required = true, value_type = Option<i64>)]
    expires_at: Option<Millis>,
}

/// A page of subscriptions, in subscription order.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionPage {
    items: Vec<SubscriptionItem>,
    /// The cursor of the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn page_answer(page: Page<Subscription>, other: impl Fn(Subscription) -> UserId) -> SubscriptionPage {
    let items = page
        .items
        .into_iter()
        .map(|x| SubscriptionItem {
            kind: x.kind,
            subscribed_at: x.subscribed_at,
            expiry: x.expiry_secs,
            expires_at: x.expires_at,
            user_id: other(x),
        })
        .collect();
    SubscriptionPage { items, next_cursor: page.next.map(|k| k.encode()) }
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
) -> Result<Json<SubscriptionPage>, ApiError> {
    let request = params.page().to_request()?;
    Ok(Json(match side {
        Side::Targets => {
            page_answer(s.herald.subscriptions_of(&app.app_id, &user, params.kind, &request).await?, |x| x.target)
        }
        Side::Subscribers => {
            page_answer(s.herald.subscribers_of(&app.app_id, &user, params.kind, &request).await?, |x| x.subscriber)
        }
    }))
}

/// The live subscriptions a user holds, oldest first; `user_id` of each item is the target.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/subscriptions",
    operation_id = "list_subscriptions",
    tag = "subscriptions",
    params(("user_id" = UserId, Path, description = "The subscriber."), ListParams),
    responses(
        (status = 200, description = "A page of the list.", body = SubscriptionPage),
        (status = 400, description = "`invalid_argument`: a bad user ID, cursor, `limit` or `kind`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn list_of_subscriber(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user_id): UserPath,
    Query(params): Query<ListParams>,
) -> Result<Json<SubscriptionPage>, ApiError> {
    list(s, &app, user_id, params, Side::Targets).await
}

/// The live subscriptions to a user, oldest first; `user_id` of each item is the subscriber.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/subscribers",
    operation_id = "list_subscribers",
    tag = "subscriptions",
    params(("user_id" = UserId, Path, description = "The target."), ListParams),
    responses(
        (status = 200, description = "A page of the list.", body = SubscriptionPage),
        (status = 400, description = "`invalid_argument`: a bad user ID, cursor, `limit` or `kind`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::CallErrors,
    )
)]
pub async fn list_of_target(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    UserPath(user_id): UserPath,
    Query(params): Query<ListParams>,
) -> Result<Json<SubscriptionPage>, ApiError> {
    list(s, &app, user_id, params, Side::Subscribers).await
}
