//! In-process implementations of the presence registry and the bus, for a single node.

mod bus;
mod registry;

pub use bus::MemoryBus;
pub use registry::MemoryRegistry;
