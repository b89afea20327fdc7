//! Herald's use cases: registering users, connecting clients, querying and reporting presence, subscribing,
//! following, and fanning presence changes out to the subscribers connected to this node. The service sees the
//! backends only through core's traits and never knows which implementations it has.

mod apps;
mod background;
mod connections;
mod drain;
mod events;
mod follows;
mod gateway;
mod hub;
mod instrument;
pub mod metrics;
mod ordering;
mod presence;
mod readiness;
mod sessions;
mod subscriptions;
mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Duration;

use herald_core::bus::Bus;
use herald_core::registry::PresenceRegistry;
use herald_core::store::Store;
use herald_core::{Millis, NodeId};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use apps::AppDirectory;
pub use drain::DrainReport;
pub use events::EventSink;
pub use gateway::{ClientConnection, Closing, Outbound};
pub use presence::PresenceReport;
pub use readiness::{Check, Readiness};
pub use sessions::{MultiLogin, SessionHolder};
pub use subscriptions::{SubscribeResult, SubscriptionPage, UnknownTargets, UnsubscribeResult};
pub use users::RegisterResult;

/// Tunables of the service layer.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long a closed connection keeps its platform online, so a quick reconnect emits nothing.
    pub grace: Duration,
    /// A client silent for this long is considered dead.
    pub heartbeat_timeout: Duration,
    /// Outgoing frames a connection may have queued before it is dropped as a slow consumer.
    pub send_queue: usize,
    /// Longest a write to a client may block (the client stopped reading) before the connection is dropped.
    pub write_timeout: Duration,
    /// How often due leases (lingering closes, reported TTLs) are expired.
    pub sweep_interval: Duration,
    /// How long this node's liveness lasts without a heartbeat (cluster mode).
    pub node_ttl: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(3),
            heartbeat_timeout: Duration::from_secs(60),
            send_queue: 1024,
            write_timeout: Duration::from_secs(10),
            sweep_interval: Duration::from_millis(100),
            node_ttl: Duration::from_secs(30),
        }
    }
}

/// The backends a node runs on.
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub registry: Arc<dyn PresenceRegistry>,
    pub bus: Arc<dyn Bus>,
}

/// The running service of one node.
pub struct Herald {
    store: Arc<dyn Store>,
    registry: Arc<dyn PresenceRegistry>,
    bus: Arc<dyn Bus>,
    pub apps: AppDirectory,
    pub config: ServiceConfig,
    node: NodeId,
    hub: Arc<hub::Hub>,
    sinks: RwLock<Vec<Arc<dyn EventSink>>>,
    connection_seq: AtomicU64,
    user_order: ordering::UserOrder,
    /// Everything the service runs in the background, so that stopping it can wait for all of it.
    work: TaskTracker,
    stop: CancellationToken,
    /// Set when the node starts to drain: it takes no new connections.
    draining: AtomicBool,
    /// Connections opened and not yet recorded as closed (a drain waits for their records to linger).
    open_connections: AtomicUsize,
    /// Set when this node stops expiring leases: a single node about to restart leaves them to its successor.
    leases_held: AtomicBool,
}

impl Herald {
    /// Assemble the service. The bus handler is installed here, so no message is missed.
    pub fn new(backends: Backends, apps: AppDirectory, config: ServiceConfig, node: NodeId) -> Arc<Self> {
        // Measured from outside, so every backend is measured alike and none carries metrics code.
        let backends = Backends {
            store: Arc::new(instrument::InstrumentedStore(backends.store)),
            registry: backends.registry,
            bus: Arc::new(instrument::InstrumentedBus(backends.bus)),
        };
        let work = TaskTracker::new();
        let hub = Arc::new(hub::Hub::new(
            node.clone(),
            backends.bus.clone(),
            backends.store.clone(),
            backends.registry.clone(),
            work.clone(),
        ));
        let handler_hub = hub.clone();
        backends.bus.set_handler(Arc::new(move |message| handler_hub.on_bus_message(message)));
        Arc::new(Self {
            store: backends.store,
            registry: backends.registry,
            bus: backends.bus,
            apps,
            config,
            node,
            hub,
            sinks: RwLock::new(Vec::new()),
            connection_seq: AtomicU64::new(0),
            user_order: ordering::UserOrder::new(),
            work,
            stop: CancellationToken::new(),
            draining: AtomicBool::new(false),
            open_connections: AtomicUsize::new(0),
            leases_held: AtomicBool::new(false),
        })
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Connections open on this node.
    pub fn local_connections(&self) -> usize {
        self.hub.connection_count()
    }
}

/// Now, in the domain's unit.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}
