//! The service's metrics: connections, presence changes, deliveries, subscription and follow writes, the bus and
//! the store. They are recorded through the `metrics` facade where each event happens; without an installed
//! recorder (tests, embedders that do not export metrics) every call is a no-op. Labels never carry user IDs.

use herald_core::Platform;
use herald_core::presence::ChangeCause;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

pub const WS_CONNECTIONS: &str = "herald_ws_connections";
pub const ONLINE_USERS: &str = "herald_online_users";
pub const WS_CONNECTS: &str = "herald_ws_connects_total";
pub const WS_DISCONNECTS: &str = "herald_ws_disconnects_total";
pub const HEARTBEAT_TIMEOUTS: &str = "herald_heartbeat_timeouts_total";
pub const SLOW_CONSUMER_CLOSES: &str = "herald_slow_consumer_closes_total";
pub const PRESENCE_CHANGES: &str = "herald_presence_changes_total";
pub const DELIVERIES_QUEUED: &str = "herald_deliveries_queued_total";
pub const SUBSCRIPTION_WRITES: &str = "herald_subscription_writes_total";
pub const FOLLOW_WRITES: &str = "herald_follow_writes_total";
pub const BUS_PUBLISHED: &str = "herald_bus_published_total";
pub const BUS_PUBLISH_ERRORS: &str = "herald_bus_publish_errors_total";
pub const BUS_RECEIVED: &str = "herald_bus_received_total";
pub const STORE_CALL_DURATION: &str = "herald_store_call_duration_seconds";
pub const STORE_ERRORS: &str = "herald_store_errors_total";
pub const NODE_REAPS: &str = "herald_node_reaps_total";
pub const REAPED_USERS: &str = "herald_node_reaped_users_total";

/// Why a WebSocket connection ended, as the `cause` label of [`WS_DISCONNECTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectCause {
    /// The client closed the socket, or the network lost it.
    Client,
    /// The client was silent for the heartbeat timeout.
    HeartbeatTimeout,
    /// The service ended it on purpose: a kick, a newer connection beyond the limits, the user's deletion.
    Kicked,
    /// The client did not read its events: its send queue filled up, or a write to it stalled.
    SlowConsumer,
    /// The service asked the client to reconnect (the node is going away or lost its record of the connection).
    Reconnect,
    /// The connection's task ended without handing the connection back (a panic, a cancelled task).
    Dropped,
}

impl DisconnectCause {
    pub const ALL: [DisconnectCause; 6] =
        [Self::Client, Self::HeartbeatTimeout, Self::Kicked, Self::SlowConsumer, Self::Reconnect, Self::Dropped];

    pub fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Kicked => "kicked",
            Self::SlowConsumer => "slow_consumer",
            Self::Reconnect => "reconnect",
            Self::Dropped => "dropped",
        }
    }
}

/// Why a slow consumer was closed, as the `reason` label of [`SLOW_CONSUMER_CLOSES`].
pub const SLOW_QUEUE_FULL: &str = "send_queue_full";
pub const SLOW_WRITE_STALLED: &str = "write_stalled";

const CHANGE_CAUSES: [ChangeCause; 7] = [
    ChangeCause::Connected,
    ChangeCause::Disconnected,
    ChangeCause::TimedOut,
    ChangeCause::Kicked,
    ChangeCause::Reported,
    ChangeCause::Background,
    ChangeCause::CustomStatus,
];

/// The wire name of a change's cause, as pushed to clients.
pub fn cause_label(cause: ChangeCause) -> &'static str {
    match cause {
        ChangeCause::Connected => "connected",
        ChangeCause::Disconnected => "disconnected",
        ChangeCause::TimedOut => "timed_out",
        ChangeCause::Kicked => "kicked",
        ChangeCause::Reported => "reported",
        ChangeCause::Background => "background",
        ChangeCause::CustomStatus => "custom_status",
    }
}

/// The bus message kinds, as the `kind` label of the bus metrics.
pub const BUS_KINDS: [&str; 3] = ["presence", "control", "user_deleted"];

/// Every store operation, as the `op` label of the store metrics: the methods of the `Store` trait.
pub const STORE_OPS: [&str; 20] = [
    "load_apps",
    "insert_app_if_absent",
    "register_users",
    "get_users",
    "delete_users",
    "record_last_seen",
    "subscribe",
    "unsubscribe",
    "subscriptions_of",
    "subscribers_of",
    "purge_expired",
    "follow",
    "unfollow",
    "follow_page",
    "relations",
    "follow_counts",
    "record_token",
    "token",
    "kick_tokens",
    "purge_expired_tokens",
];

/// Describe every service metric and create each series whose labels are known in advance at zero, so a scrape
/// lists them (and dashboards show 0, not "no data") before the first event. Call once after installing a recorder.
pub fn register() {
    describe_gauge!(WS_CONNECTIONS, "WebSocket connections open on this node, by platform.");
    describe_gauge!(ONLINE_USERS, "Users with at least one WebSocket connection open on this node.");
    describe_counter!(WS_CONNECTS, "WebSocket connections opened on this node, by platform.");
    describe_counter!(WS_DISCONNECTS, "WebSocket connections closed on this node, by cause.");
    describe_counter!(HEARTBEAT_TIMEOUTS, "Connections closed because the client missed its heartbeats.");
    describe_counter!(SLOW_CONSUMER_CLOSES, "Connections closed because the client did not read its events.");
    describe_counter!(PRESENCE_CHANGES, "Presence changes this node published, by cause.");
    describe_counter!(DELIVERIES_QUEUED, "Presence events queued to local connections.");
    describe_counter!(SUBSCRIPTION_WRITES, "Subscriptions written (one per target), by op.");
    describe_counter!(FOLLOW_WRITES, "Follow edges added or removed, by op.");
    describe_counter!(BUS_PUBLISHED, "Messages published on the bus, by kind.");
    describe_counter!(BUS_PUBLISH_ERRORS, "Bus publishes that failed, by kind.");
    describe_counter!(BUS_RECEIVED, "Messages this node received from the bus, by kind.");
    describe_histogram!(STORE_CALL_DURATION, Unit::Seconds, "Latency of store calls, by operation.");
    describe_counter!(STORE_ERRORS, "Store calls that failed, by operation.");
    describe_counter!(NODE_REAPS, "Times this node took over the connections of dead nodes.");
    describe_counter!(REAPED_USERS, "Users whose connections this node took over from dead nodes.");

    for platform in Platform::ALL {
        gauge!(WS_CONNECTIONS, "platform" => platform.name()).set(0.0);
        counter!(WS_CONNECTS, "platform" => platform.name()).absolute(0);
    }
    gauge!(ONLINE_USERS).set(0.0);
    for cause in DisconnectCause::ALL {
        counter!(WS_DISCONNECTS, "cause" => cause.label()).absolute(0);
    }
    counter!(HEARTBEAT_TIMEOUTS).absolute(0);
    for reason in [SLOW_QUEUE_FULL, SLOW_WRITE_STALLED] {
        counter!(SLOW_CONSUMER_CLOSES, "reason" => reason).absolute(0);
    }
    for cause in CHANGE_CAUSES {
        counter!(PRESENCE_CHANGES, "cause" => cause_label(cause)).absolute(0);
    }
    counter!(DELIVERIES_QUEUED).absolute(0);
    for op in ["subscribe", "unsubscribe"] {
        counter!(SUBSCRIPTION_WRITES, "op" => op).absolute(0);
    }
    for op in ["follow", "unfollow"] {
        counter!(FOLLOW_WRITES, "op" => op).absolute(0);
    }
    for kind in BUS_KINDS {
        counter!(BUS_PUBLISHED, "kind" => kind).absolute(0);
        counter!(BUS_PUBLISH_ERRORS, "kind" => kind).absolute(0);
        counter!(BUS_RECEIVED, "kind" => kind).absolute(0);
    }
    for op in STORE_OPS {
        // Registering the histogram is enough for it to be listed with a count of 0.
        let _ = histogram!(STORE_CALL_DURATION, "op" => op);
        counter!(STORE_ERRORS, "op" => op).absolute(0);
    }
    counter!(NODE_REAPS).absolute(0);
    counter!(REAPED_USERS).absolute(0);
}
