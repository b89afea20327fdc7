//! The life of a client connection: connect, change state, disconnect.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use herald_core::bus::{BusMessage, ControlEvent};
use herald_core::event::PresenceEvent;
use herald_core::presence::{ChangeCause, ConnectionRecord, PresenceChange, Transition};
use herald_core::{App, AppId, ConnectionId, Error, Millis, Platform, Result, UserId};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::hub::Closing;
use crate::hub::LocalConn;
pub use crate::hub::Outbound;
use crate::metrics::{
    DisconnectCause, HEARTBEAT_TIMEOUTS, PRESENCE_CHANGES, SLOW_WRITE_STALLED, WS_CONNECTS, WS_DISCONNECTS, cause_label,
};
use crate::{Herald, now_millis};

/// A client connection open on this node. The adapter reads `outbound` and writes it to the socket, closes the
/// socket when `closed()` resolves, and hands the connection back to [`Herald::disconnect`] when the socket ends.
/// Dropped any other way (its task panicked or was cancelled), it disconnects itself, so no connection record
/// outlives its socket.
pub struct ClientConnection {
    pub app: Arc<App>,
    pub user: UserId,
    pub platform: Platform,
    pub id: ConnectionId,
    pub outbound: mpsc::Receiver<Outbound>,
    seq: u64,
    local: Arc<LocalConn>,
    herald: Weak<Herald>,
    /// Set once the service has recorded the disconnect.
    disconnected: bool,
    /// When the connection was opened, for the log line of its close.
    opened: Instant,
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        if self.disconnected {
            return;
        }
        let (Some(herald), Ok(runtime)) = (self.herald.upgrade(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        tracing::warn!(user = %self.user, connection = %self.id, "connection ended without a disconnect; recording one");
        herald.count_disconnect(self, DisconnectCause::Dropped);
        let (app, user, id, seq) = (self.app.app_id.clone(), self.user.clone(), self.id.clone(), self.seq);
        let tracker = herald.work.clone();
        runtime.spawn(tracker.track_future(async move {
            herald.record_disconnect(&app, &user, id, seq, ChangeCause::Disconnected).await;
        }));
    }
}

impl ClientConnection {
    /// Resolves when the service wants the connection closed (kicked, slow consumer).
    pub async fn closed(&self) {
        self.local.closer.cancelled().await
    }

    /// A handle that resolves like [`ClientConnection::closed`] without borrowing the connection.
    pub fn close_signal(&self) -> CancellationToken {
        self.local.closer.clone()
    }

    /// Why the service closed the connection, once it has.
    pub fn closing(&self) -> Option<Closing> {
        self.local.closing.lock().clone()
    }

    /// The adapter gave up on a write that the client did not take in time: the connection ends as a slow consumer.
    pub fn write_stalled(&self) {
        self.local.close_slow_consumer(SLOW_WRITE_STALLED, "slow consumer: a write stalled");
    }

    /// Why the connection is ending, from the cause the adapter gives and what the service asked of it.
    fn disconnect_cause(&self, cause: ChangeCause) -> DisconnectCause {
        if self.local.slow_consumer.load(Ordering::Relaxed) {
            return DisconnectCause::SlowConsumer;
        }
        match (cause, self.closing()) {
            (ChangeCause::TimedOut, _) => DisconnectCause::HeartbeatTimeout,
            (_, Some(closing)) if closing.reconnect => DisconnectCause::Reconnect,
            (_, Some(_)) | (ChangeCause::Kicked, None) => DisconnectCause::Kicked,
            _ => DisconnectCause::Client,
        }
    }
}

impl Herald {
    /// Open a connection for a registered user: it goes online on `platform` and starts receiving the changes of
    /// everyone it subscribes to.
    pub async fn connect(
        self: &Arc<Self>,
        app: Arc<App>,
        user: UserId,
        platform: Platform,
        background: bool,
    ) -> Result<ClientConnection> {
        self.check_can_connect(&app.app_id, &user).await?;
        let seq = self.connection_seq.fetch_add(1, Ordering::Relaxed);
        let id = ConnectionId::new(&self.node, seq);
        let (tx, outbound) = mpsc::channel(self.config.send_queue);
        let local = Arc::new(LocalConn {
            id: id.clone(),
            app: app.app_id.clone(),
            user: user.clone(),
            platform,
            tx,
            closer: CancellationToken::new(),
            closing: Mutex::new(None),
            targets: Mutex::new(Default::default()),
            slow_consumer: AtomicBool::new(false),
        });
        self.hub.register(seq, local.clone()).await?;

        let record = ConnectionRecord::socket(id.clone(), self.node.clone(), platform, background, now_millis());
        if let Err(e) = self.change_presence(&app.app_id, &user, PresenceChange::Connect(record)).await {
            self.hub.unregister(seq).await;
            return Err(e);
        }
        self.open_connections.fetch_add(1, Ordering::SeqCst);
        self.enforce_connection_limits(&app, &user, &id).await;
        metrics::counter!(WS_CONNECTS, "platform" => platform.name()).increment(1);
        tracing::info!(app = %app.app_id, %user, platform = platform.name(), node = %self.node, connection = %id, background, "connection opened");
        Ok(ClientConnection {
            app,
            user,
            platform,
            id,
            outbound,
            seq,
            local,
            herald: Arc::downgrade(self),
            disconnected: false,
            opened: Instant::now(),
        })
    }

    /// Keep a user within its connection limits: the newest connection wins, the oldest beyond a limit is taken
    /// offline at once and its node told to close it. A client that reconnects while its old socket has not timed
    /// out yet (a phone that changed networks) must get in; the one it left behind is the one to go.
    async fn enforce_connection_limits(&self, app: &App, user: &UserId, newest: &ConnectionId) {
        let (per_platform, per_user) = (app.limits.max_connections_per_platform, app.limits.max_connections_per_user);
        let state = match self.registry.get(&app.app_id, std::slice::from_ref(user)).await {
            Ok(mut states) => states.pop().flatten().unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, %user, "could not check the connection limits");
                return;
            }
        };
        for id in state.sockets_over_limits(newest, per_platform, per_user) {
            let change = PresenceChange::Disconnect { id: id.clone(), cause: ChangeCause::Kicked, grace: 0 };
            if let Err(e) = self.change_presence(&app.app_id, user, change).await {
                tracing::warn!(error = %e, %user, "could not take a replaced connection offline");
                continue;
            }
            tracing::info!(%user, connection = %id, "closing a connection replaced by a newer one beyond the limits");
            let reason = "replaced by a newer connection: connection limit reached".to_owned();
            let event = ControlEvent::Close { connection: id, reason };
            let message = BusMessage::Control { app: app.app_id.clone(), user: user.clone(), event };
            if let Err(e) = self.bus.publish(message).await {
                tracing::warn!(error = %e, %user, "could not ask a node to close a replaced connection");
            }
        }
    }

    /// Whether `user` may open a connection (it must be registered, and the node must not be draining), so an
    /// adapter can refuse before it upgrades.
    pub async fn check_can_connect(&self, app: &AppId, user: &UserId) -> Result<()> {
        if self.is_draining() {
            return Err(Error::Draining);
        }
        self.require_registered(app, user).await
    }

    /// Close a connection. With a grace period the platform lingers, so a quick reconnect is invisible.
    pub async fn disconnect(&self, mut conn: ClientConnection, cause: ChangeCause) {
        conn.disconnected = true;
        self.count_disconnect(&conn, conn.disconnect_cause(cause));
        self.record_disconnect(&conn.app.app_id, &conn.user, conn.id.clone(), conn.seq, cause).await;
    }

    /// Count a connection's end and log it with how long it lived.
    fn count_disconnect(&self, conn: &ClientConnection, cause: DisconnectCause) {
        metrics::counter!(WS_DISCONNECTS, "cause" => cause.label()).increment(1);
        if cause == DisconnectCause::HeartbeatTimeout {
            metrics::counter!(HEARTBEAT_TIMEOUTS).increment(1);
        }
        tracing::info!(
            app = %conn.app.app_id,
            user = %conn.user,
            platform = conn.platform.name(),
            node = %self.node,
            connection = %conn.id,
            cause = cause.label(),
            duration_ms = conn.opened.elapsed().as_millis() as u64,
            "connection closed"
        );
    }

    async fn record_disconnect(&self, app: &AppId, user: &UserId, id: ConnectionId, seq: u64, cause: ChangeCause) {
        self.hub.unregister(seq).await;
        let grace = self.config.grace.as_millis() as Millis;
        if let Err(e) = self.change_presence(app, user, PresenceChange::Disconnect { id, cause, grace }).await {
            tracing::error!(error = %e, %user, "could not record a disconnect");
        }
        self.open_connections.fetch_sub(1, Ordering::SeqCst);
    }

    pub async fn set_background(&self, conn: &ClientConnection, background: bool) -> Result<()> {
        let change = PresenceChange::SetBackground { id: conn.id.clone(), background };
        self.change_presence(&conn.app.app_id, &conn.user, change).await.map(drop)
    }

    pub async fn set_custom_status(&self, conn: &ClientConnection, status: Option<String>) -> Result<()> {
        self.change_presence(&conn.app.app_id, &conn.user, PresenceChange::SetCustomStatus(status)).await.map(drop)
    }

    /// Apply a change to a user's presence and publish it if it is one. Changes of one user are applied and
    /// published under that user's stripe lock, so subscribers see them in the order they happened.
    ///
    /// Returns once the store has the last-seen time of a change that took the user offline: the registry forgets
    /// an offline user at once, so until then a read of the user's presence (the caller's answer, or its next
    /// query) would still show the store's older last-seen time.
    pub(crate) async fn change_presence(
        &self,
        app: &AppId,
        user: &UserId,
        change: PresenceChange,
    ) -> Result<Transition> {
        let (t, last_seen) = {
            let _order = self.user_order.lock(app, user).await;
            let now = now_millis();
            let t = self.registry.apply(app, user, change, now).await?;
            let last_seen = self.publish_transition(app, user, t.clone(), now).await;
            (t, last_seen)
        };
        // Outside the lock: the next change of this user need not wait for the write.
        if let Some(write) = last_seen {
            let _ = write.await;
        }
        Ok(t)
    }

    /// Tell subscribers, webhooks and the store about a real change; do nothing for a non-change. The store's
    /// last-seen write of a change to offline runs beside the fan-out, never before it; its handle is returned for
    /// callers that must not answer before it is done.
    pub(crate) async fn publish_transition(
        &self,
        app: &AppId,
        user: &UserId,
        t: Transition,
        now: Millis,
    ) -> Option<JoinHandle<()>> {
        if !t.changed() {
            return None;
        }
        metrics::counter!(PRESENCE_CHANGES, "cause" => cause_label(t.cause)).increment(1);
        let mut last_seen = None;
        if t.before.online && !t.after.online {
            let (store, app, user) = (self.store.clone(), app.clone(), user.clone());
            last_seen = Some(self.work.spawn(async move {
                if let Err(e) = store.record_last_seen(&app, &user, now).await {
                    tracing::warn!(error = %e, %user, "could not record last-seen");
                }
            }));
        }
        let event = Arc::new(PresenceEvent {
            app: app.clone(),
            user_id: user.clone(),
            view: t.after,
            previous: t.before,
            details: t.details,
            cause: t.cause,
            platform: t.platform,
            at: now,
        });
        self.emit_presence(&event);
        if let Err(e) = self.bus.publish(BusMessage::Presence(event)).await {
            tracing::error!(error = %e, %user, "could not publish a presence change");
        }
        last_seen
    }
}
