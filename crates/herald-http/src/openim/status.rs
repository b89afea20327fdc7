//! Online status: subscribing (stored in the same subscriptions the native API and the gateway use, without
//! expiry) and querying. Lists upstream leaves empty are written as `null`, like its `platformIDs` of an offline
//! user.

use std::collections::HashSet;

use herald_core::presence::Presence;
use herald_core::subscription::SubscriptionKind;
use herald_core::{Error, UserId};
use herald_service::UnknownTargets;
use serde::{Deserialize, Serialize};

use super::error::OpenImError;
use super::wire::{Caller, MAX_USER_IDS, OpenImResult, Reply, nullable, user_id, user_ids};
use crate::AppState;

/// `genre` values of `subscribe_users_status`.
const SUBSCRIBE: i64 = 1;
const UNSUBSCRIBE: i64 = 2;
/// Upstream's `status` values.
const ONLINE: i32 = 1;
const OFFLINE: i32 = 0;

/// Upstream's `OnlineStatus`.
#[derive(Serialize)]
pub struct OnlineStatus {
    #[serde(rename = "userID")]
    user_id: UserId,
    status: i32,
    /// The de-duplicated platforms with a live connection; `null` when offline.
    #[serde(rename = "platformIDs")]
    platform_ids: Option<Vec<u8>>,
}

impl From<&Presence> for OnlineStatus {
    fn from(p: &Presence) -> Self {
        let online = p.view.online;
        OnlineStatus {
            user_id: p.user_id.clone(),
            status: if online { ONLINE } else { OFFLINE },
            platform_ids: online.then(|| p.view.platforms.iter().map(|pl| pl.id()).collect()),
        }
    }
}

#[derive(Serialize)]
pub struct StatusListResp {
    #[serde(rename = "statusList")]
    status_list: Option<Vec<OnlineStatus>>,
}

impl StatusListResp {
    fn of<'a>(presences: impl IntoIterator<Item = &'a Presence>) -> Self {
        let list: Vec<OnlineStatus> = presences.into_iter().map(OnlineStatus::from).collect();
        StatusListResp { status_list: (!list.is_empty()).then_some(list) }
    }
}

#[derive(Deserialize)]
pub struct SubscribeUsersStatusReq {
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
    #[serde(rename = "userIDs", default, deserialize_with = "nullable")]
    user_ids: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    genre: i64,
}

/// Genre 1 subscribes `userID` to `userIDs` and answers their current status (targets already at their subscriber
/// limit are left out, as they are not subscribed); genre 2 unsubscribes and answers an empty list.
pub async fn subscribe_users_status(s: AppState, caller: Caller, req: SubscribeUsersStatusReq) -> OpenImResult {
    let subscriber = user_id(&req.user_id, "userID")?;
    if req.genre != SUBSCRIBE && req.genre != UNSUBSCRIBE {
        return Err(OpenImError::args(format!(
            "genre {} is invalid; expected {SUBSCRIBE} (subscribe) or {UNSUBSCRIBE} (unsubscribe)",
            req.genre
        )));
    }
    let targets = distinct(user_ids(&req.user_ids, "userIDs", MAX_USER_IDS)?);
    caller.require_self_or_admin(subscriber.as_str())?;
    let h = &s.herald;
    let kind = SubscriptionKind::OnlineStatus;
    if req.genre == UNSUBSCRIBE {
        h.unsubscribe(&caller.app.app_id, &subscriber, &targets, kind, UnknownTargets::Reject).await?;
        return Reply::data(StatusListResp { status_list: None });
    }
    let result = h.subscribe(&caller.app, &subscriber, &targets, kind, None, UnknownTargets::Reject).await?;
    if !result.outcome.targets_at_limit.is_empty() {
        let at_limit = &result.outcome.targets_at_limit;
        tracing::warn!(targets = ?at_limit, "targets at their subscriber limit were not subscribed");
    }
    let in_request_order = targets.iter().filter_map(|t| result.presences.iter().find(|p| &p.user_id == t));
    Reply::data(StatusListResp::of(in_request_order))
}

#[derive(Deserialize)]
pub struct GetSubscribeUsersStatusReq {
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
}

/// The status of everyone `userID` subscribes to, oldest subscription first.
pub async fn get_subscribe_users_status(s: AppState, caller: Caller, req: GetSubscribeUsersStatusReq) -> OpenImResult {
    let subscriber = user_id(&req.user_id, "userID")?;
    caller.require_self_or_admin(subscriber.as_str())?;
    let (h, app) = (&s.herald, &caller.app.app_id);
    let subscriptions = h.all_subscriptions_of(app, &subscriber, SubscriptionKind::OnlineStatus).await?;
    let targets: Vec<UserId> = subscriptions.into_iter().map(|sub| sub.target).collect();
    // A target deleted since is gone with its subscriptions; skip one deleted while we read.
    let presences = h.presences(app, None, &targets).await?;
    Reply::data(StatusListResp::of(presences.iter().flatten()))
}

#[derive(Deserialize)]
pub struct GetUsersStatusReq {
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
    #[serde(rename = "userIDs", default, deserialize_with = "nullable")]
    user_ids: Vec<String>,
}

/// The status of each of `userIDs`, in request order. `userID`, when given, is the asking user.
pub async fn get_users_status(s: AppState, caller: Caller, req: GetUsersStatusReq) -> OpenImResult {
    let targets = user_ids(&req.user_ids, "userIDs", MAX_USER_IDS)?;
    let asking = if req.user_id.is_empty() { None } else { Some(user_id(&req.user_id, "userID")?) };
    if let Some(asking) = &asking {
        caller.require_self_or_admin(asking.as_str())?;
    }
    let presences = s.herald.presences(&caller.app.app_id, asking.as_ref(), &targets).await?;
    // Unregistered IDs are an error of the whole call here, naming the first (1004).
    let presences = targets
        .iter()
        .zip(presences)
        .map(|(id, p)| p.ok_or_else(|| Error::UserNotFound(id.clone())))
        .collect::<Result<Vec<Presence>, Error>>()?;
    Reply::data(StatusListResp::of(&presences))
}

#[derive(Deserialize)]
pub struct GetUsersOnlineStatusReq {
    #[serde(rename = "userIDs", default, deserialize_with = "nullable")]
    user_ids: Vec<String>,
}

/// One session of an online user.
#[derive(Serialize)]
pub struct PlatformSession {
    #[serde(rename = "platformID")]
    platform_id: u8,
    #[serde(rename = "connID")]
    conn_id: String,
    #[serde(rename = "isBackground")]
    is_background: bool,
    /// Herald does not keep which token opened a session; upstream's zero value.
    token: &'static str,
}

#[derive(Serialize)]
pub struct UserSessions {
    #[serde(rename = "userID")]
    user_id: UserId,
    status: i32,
    #[serde(rename = "detailPlatformStatus")]
    detail_platform_status: Option<Vec<PlatformSession>>,
}

/// Admin only: each user's sessions one by one. `data` is a plain array here, as upstream.
pub async fn get_users_online_status(s: AppState, caller: Caller, req: GetUsersOnlineStatusReq) -> OpenImResult {
    let ids = user_ids(&req.user_ids, "userIDs", MAX_USER_IDS)?;
    if !caller.admin {
        return Err(OpenImError::no_permission("only app manager"));
    }
    let connections = s.herald.connections(&caller.app.app_id, &ids).await?;
    let out = ids
        .into_iter()
        .zip(connections)
        .map(|(user_id, records)| {
            let records = records.ok_or_else(|| Error::UserNotFound(user_id.clone()))?;
            let sessions: Vec<PlatformSession> = records
                .into_iter()
                .map(|c| PlatformSession {
                    platform_id: c.platform.id(),
                    conn_id: c.id.to_string(),
                    is_background: c.background,
                    token: "",
                })
                .collect();
            let online = !sessions.is_empty();
            Ok(UserSessions {
                user_id,
                status: if online { ONLINE } else { OFFLINE },
                detail_platform_status: online.then_some(sessions),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Reply::data(out)
}

/// The IDs without repeats, first occurrence first.
fn distinct(ids: Vec<UserId>) -> Vec<UserId> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(id.clone())).collect()
}
