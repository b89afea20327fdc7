//! The WebSocket gateway: `GET /v1/ws?token=T&platform=P[&background=true]`.
//!
//! One task per connection reads client frames, writes queued events (several per flush when they pile up) and
//! watches the heartbeat deadline. A client silent for the heartbeat timeout is dropped as timed out.

mod frames;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use herald_core::Platform;
use herald_core::presence::ChangeCause;
use herald_service::{ClientConnection, Outbound};
use serde::Deserialize;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use crate::AppState;
use crate::native::error::ApiError;
use crate::native::extract_query;

/// Most queued events written before one flush.
const MAX_BATCH: usize = 64;

/// Read buffer of a connection, and the most tungstenite zero-fills per read attempt. It allocates the whole buffer
/// per connection and zero-fills up to this much of it on every read attempt (every wake-up of the connection task,
/// not only when a frame arrives): its 128 KiB default cost 139 KiB of resident memory per idle connection and made
/// `memset` 40% of the server's CPU during fan-out. Client frames are small JSON, and a larger frame still grows the
/// buffer to its length.
const READ_BUFFER_BYTES: usize = 512;
/// Largest client frame accepted: a frame names at most 200 user IDs of 64 bytes, far below this.
const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/ws", get(upgrade))
}

#[derive(Deserialize)]
pub struct ConnectParams {
    token: String,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    background: bool,
}

async fn upgrade(
    State(s): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    query: axum::http::Uri,
) -> Response {
    // A plain request to the gateway is answered in the native error format, like every other native route.
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => return ApiError::invalid(format!("not a WebSocket handshake: {}", r.body_text())).into_response(),
    };
    let params: ConnectParams = match extract_query(&query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let identity = match crate::identity::verify_client_token(&s, &params.token).await {
        Ok(identity) => identity,
        Err(message) => return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response(),
    };
    let platform = match resolve_platform(params.platform.as_deref(), identity.platform) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // Check before upgrading, so an unknown user gets an HTTP error rather than a socket that closes at once.
    if let Err(e) = s.herald.check_can_connect(&identity.app.app_id, &identity.user).await {
        return ApiError::from(e).into_response();
    }
    // Go online only once the socket exists: an upgrade that never completes must leave no connection behind.
    ws.read_buffer_size(READ_BUFFER_BYTES).max_message_size(MAX_CLIENT_FRAME_BYTES).on_upgrade(
        move |mut socket| async move {
            match s.herald.connect(identity.app, identity.user, platform, params.background).await {
                Ok(conn) => {
                    // Tell the client it is online now: the handshake completed before the connection was recorded.
                    let hello = frames::connected_frame(&conn, s.herald.config.heartbeat_timeout);
                    if socket.send(Message::Text(hello.into())).await.is_ok() {
                        serve(s, socket, conn).await
                    } else {
                        s.herald.disconnect(conn, ChangeCause::Disconnected).await
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not open a connection after the upgrade");
                    let (_, code) = crate::native::error::code_of(&e);
                    let frame = serde_json::json!({"type": "error", "code": code, "message": e.to_string()});
                    let _ = socket.send(Message::Text(frame.to_string().into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                }
            }
        },
    )
}

/// The URL's platform wins; a token that names one must agree with it.
fn resolve_platform(query: Option<&str>, token: Option<Platform>) -> Result<Platform, ApiError> {
    let from_query = query.map(Platform::from_name).transpose()?;
    match (from_query, token) {
        (Some(q), Some(t)) if q != t => {
            Err(ApiError::invalid(format!("platform {} does not match the token's platform {}", q.name(), t.name())))
        }
        (Some(p), _) | (None, Some(p)) => Ok(p),
        (None, None) => Err(ApiError::invalid("platform is required")),
    }
}

/// How long a close frame may take to go out before the socket is dropped without one.
const CLOSE_FRAME_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a connection's loop ended, and the close frame the client should get, if it still reads.
struct Ending {
    cause: ChangeCause,
    close: Option<CloseFrame>,
}

impl Ending {
    fn disconnected() -> Self {
        Self { cause: ChangeCause::Disconnected, close: None }
    }

    /// 4000 for a connection ended on purpose (kicked); 1012 ("service restart") for one whose client should
    /// reconnect, which closes like any disconnect: it lingers, and a client back in time changes nothing.
    fn closed_by_service(conn: &ClientConnection) -> Self {
        let closing = conn.closing();
        let reconnect = closing.as_ref().is_some_and(|c| c.reconnect);
        let (code, cause) = if reconnect { (1012, ChangeCause::Disconnected) } else { (4000, ChangeCause::Kicked) };
        let reason = Utf8Bytes::from(closing.map(|c| c.reason).unwrap_or_default());
        Self { cause, close: Some(CloseFrame { code, reason }) }
    }

    fn timed_out() -> Self {
        let close = CloseFrame { code: 4001, reason: Utf8Bytes::from_static("heartbeat timeout") };
        Self { cause: ChangeCause::TimedOut, close: Some(close) }
    }

    fn write_stalled() -> Self {
        let close = CloseFrame { code: 4000, reason: Utf8Bytes::from_static("slow consumer: a write stalled") };
        Self { cause: ChangeCause::Kicked, close: Some(close) }
    }
}

async fn serve(s: AppState, socket: WebSocket, mut conn: ClientConnection) {
    let (mut sink, mut stream) = socket.split();
    let timeout: Duration = s.herald.config.heartbeat_timeout;
    let write_timeout = s.herald.config.write_timeout;
    let closer = conn.close_signal();
    let mut deadline = Instant::now() + timeout;
    // Every write below races the close signal, the heartbeat deadline and the write timeout: a client that stops
    // reading blocks the write, and must not keep its connection (and its user's presence) alive by doing so.
    let ending = loop {
        let outcome = tokio::select! {
            inbound = stream.next() => match inbound {
                Some(Ok(Message::Text(text))) => {
                    deadline = Instant::now() + timeout;
                    // Boxed: the reply future is large and rare; inline it would sit in every idle connection.
                    let reply = Box::pin(frames::handle(&s, &conn, text.as_str())).await;
                    Write::Reply(reply)
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Ending::disconnected(),
                // Pings are answered by the protocol layer; any frame proves the client alive.
                Some(Ok(_)) => {
                    deadline = Instant::now() + timeout;
                    continue;
                }
            },
            event = conn.outbound.recv() => match event {
                Some(first) => Write::Events(first),
                None => break Ending::disconnected(),
            },
            _ = closer.cancelled() => break Ending::closed_by_service(&conn),
            _ = tokio::time::sleep_until(deadline) => break Ending::timed_out(),
        };
        let written = async {
            match outcome {
                Write::Reply(reply) => sink.send(Message::Text(reply.into())).await,
                Write::Events(first) => write_batch(&mut sink, &mut conn.outbound, first).await,
            }
        };
        tokio::select! {
            result = tokio::time::timeout(write_timeout, written) => match result {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break Ending::disconnected(),
                Err(_) => {
                    conn.write_stalled();
                    break Ending::write_stalled();
                }
            },
            _ = closer.cancelled() => break Ending::closed_by_service(&conn),
            _ = tokio::time::sleep_until(deadline) => break Ending::timed_out(),
        }
    };
    if let Some(frame) = ending.close {
        // A client that does not read gets no close frame: the socket is dropped when the attempt times out.
        let _ = tokio::time::timeout(CLOSE_FRAME_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    drop((sink, stream));
    s.herald.disconnect(conn, ending.cause).await;
}

/// What the connection's loop has to write next.
enum Write {
    Reply(String),
    Events(Outbound),
}

/// Write the first event and whatever else is already queued, then flush once.
async fn write_batch<S>(sink: &mut S, outbound: &mut Receiver<Outbound>, first: Outbound) -> Result<(), axum::Error>
where
    S: SinkExt<Message, Error = axum::Error> + Unpin,
{
    sink.feed(frames::outbound_message(&first)).await?;
    for _ in 1..MAX_BATCH {
        match outbound.try_recv() {
            Ok(next) => sink.feed(frames::outbound_message(&next)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}
