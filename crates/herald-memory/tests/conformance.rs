//! The registry and bus conformance suite against the in-process implementations.

use std::sync::Arc;

use herald_conformance::registry::Backend;
use herald_memory::{MemoryBus, MemoryRegistry};

async fn fresh() -> Backend {
    let registry = Arc::new(MemoryRegistry::new());
    Backend {
        registry: registry.clone(),
        peer_registry: registry,
        bus: Arc::new(MemoryBus::new()),
        peer_bus: None,
        cleanup: None,
    }
}

herald_conformance::registry_conformance!(fresh());
