//! Client frames and their replies, and the frames of pushed events.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use axum::extract::ws::{Message, Utf8Bytes};
use herald_core::event::PresenceEvent;
use herald_core::subscription::SubscriptionKind;
use herald_core::{Error, UserId};
use herald_service::{ClientConnection, Outbound, UnknownTargets};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::native::error::code_of;
use crate::native::presence::presence_json;

/// Most users one frame may name.
const MAX_USERS_PER_FRAME: usize = 200;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Subscribe { id: Option<Value>, user_ids: Vec<UserId>, expiry: Option<i64> },
    Unsubscribe { id: Option<Value>, user_ids: Vec<UserId> },
    Query { id: Option<Value>, user_ids: Vec<UserId> },
    Background { id: Option<Value>, background: bool },
    CustomStatus { id: Option<Value>, custom_status: Option<String> },
    Ping { id: Option<Value> },
}

/// Handle one client frame and return the reply to send.
pub async fn handle(s: &AppState, conn: &ClientConnection, text: &str) -> String {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned());
            return error_frame(id, "bad_frame", &format!("unreadable frame: {e}"));
        }
    };
    match dispatch(s, conn, frame).await {
        Ok(v) => v.to_string(),
        Err((id, e)) => error_frame(id, code_of(&e).1, &e.to_string()),
    }
}

type FrameResult = Result<Value, (Option<Value>, Error)>;

async fn dispatch(s: &AppState, conn: &ClientConnection, frame: ClientFrame) -> FrameResult {
    let h = &s.herald;
    let app = &conn.app;
    match frame {
        ClientFrame::Ping { id } => Ok(with_id(json!({"type": "pong"}), id)),
        ClientFrame::Subscribe { id, user_ids, expiry } => {
            check_size(&user_ids).map_err(|e| (id.clone(), e))?;
            // One frame has one reply: a target that is not registered fails the frame, and nothing is subscribed.
            let kind = SubscriptionKind::OnlineStatus;
            match h.subscribe(app, &conn.user, &user_ids, kind, expiry, UnknownTargets::Reject).await {
                Ok(r) => Ok(with_id(
                    json!({
                        "type": "subscribed",
                        "presences": r.presences.iter().map(presence_json).collect::<Vec<_>>(),
                        "targets_at_limit": r.outcome.targets_at_limit,
                    }),
                    id,
                )),
                Err(e) => Err((id, e)),
            }
        }
        ClientFrame::Unsubscribe { id, user_ids } => {
            check_size(&user_ids).map_err(|e| (id.clone(), e))?;
            let kind = SubscriptionKind::OnlineStatus;
            match h.unsubscribe(&app.app_id, &conn.user, &user_ids, kind, UnknownTargets::Reject).await {
                Ok(_) => Ok(with_id(json!({"type": "unsubscribed"}), id)),
                Err(e) => Err((id, e)),
            }
        }
        ClientFrame::Query { id, user_ids } => {
            check_size(&user_ids).map_err(|e| (id.clone(), e))?;
            match h.require_presences(&app.app_id, &user_ids).await {
                Ok(ps) => Ok(with_id(
                    json!({"type": "presences", "presences": ps.iter().map(presence_json).collect::<Vec<_>>()}),
                    id,
                )),
                Err(e) => Err((id, e)),
            }
        }
        ClientFrame::Background { id, background } => match h.set_background(conn, background).await {
            Ok(()) => Ok(with_id(json!({"type": "ok"}), id)),
            Err(e) => Err((id, e)),
        },
        ClientFrame::CustomStatus { id, custom_status } => match h.set_custom_status(conn, custom_status).await {
            Ok(()) => Ok(with_id(json!({"type": "ok"}), id)),
            Err(e) => Err((id, e)),
        },
    }
}

fn check_size(user_ids: &[UserId]) -> Result<(), Error> {
    if user_ids.is_empty() {
        return Err(Error::invalid("user_ids", "must not be empty"));
    }
    if user_ids.len() > MAX_USERS_PER_FRAME {
        return Err(Error::TooMany { what: "user_ids", max: MAX_USERS_PER_FRAME });
    }
    Ok(())
}

fn with_id(mut v: Value, id: Option<Value>) -> Value {
    if let Some(id) = id {
        v["id"] = id;
    }
    v
}

fn error_frame(id: Option<Value>, code: &str, message: &str) -> String {
    json!({"type": "error", "id": id, "code": code, "message": message}).to_string()
}

/// The first frame of every connection, sent once the user is online on it.
pub fn connected_frame(conn: &ClientConnection, heartbeat_timeout: std::time::Duration) -> String {
    json!({
        "type": "connected",
        "user_id": conn.user,
        "platform": conn.platform,
        "connection_id": conn.id,
        "heartbeat_timeout_ms": heartbeat_timeout.as_millis() as u64,
    })
    .to_string()
}

/// The PRESENCE frame pushed for a change: the fields of a queried PRESENCE, plus the change's `cause`. A change
/// never leaves a user offline as it was (the view differs), so an offline event is the moment the user was last
/// seen.
pub fn event_json(e: &PresenceEvent) -> Value {
    json!({
        "type": "presence",
        "user_id": e.user_id,
        "online": e.view.online,
        "platforms": e.view.platforms,
        "push_online": e.view.push_online,
        "custom_status": e.view.custom_status,
        "last_seen": (!e.view.online).then_some(e.at),
        "at": e.at,
        "cause": e.cause,
        "details": e.details.iter().map(|d| json!({
            "platform": d.platform,
            "background": d.background,
            "connections": d.connections,
        })).collect::<Vec<_>>(),
    })
}

pub fn outbound_message(o: &Outbound) -> Message {
    match o {
        Outbound::Presence(e) => Message::Text(encoded_presence(e)),
    }
}

/// Frames already encoded for the most recent events, per worker thread.
const RECENT_FRAMES: usize = 8;

thread_local! {
    static RECENT: RefCell<RecentFrames> = RefCell::new(RecentFrames::default());
}

/// One event is pushed to every connection watching its user, and those connections' writer tasks run back to back
/// on the runtime's threads, so a frame is encoded once per event and thread instead of once per subscriber (which
/// cost a third of the server's CPU during fan-out). Entries are keyed by the event's allocation, which the `Weak`
/// keeps from being reused while the entry lives, so a pointer match is always the same event.
#[derive(Default)]
struct RecentFrames {
    slots: [Option<(Weak<PresenceEvent>, Utf8Bytes)>; RECENT_FRAMES],
    next: usize,
}

fn encoded_presence(e: &Arc<PresenceEvent>) -> Utf8Bytes {
    RECENT.with_borrow_mut(|recent| {
        let hit = recent.slots.iter().flatten().find(|(event, _)| std::ptr::eq(event.as_ptr(), Arc::as_ptr(e)));
        if let Some((_, frame)) = hit {
            return frame.clone();
        }
        let frame = Utf8Bytes::from(event_json(e).to_string());
        let slot = recent.next;
        recent.slots[slot] = Some((Arc::downgrade(e), frame.clone()));
        recent.next = (slot + 1) % RECENT_FRAMES;
        frame
    })
}
