//! Herald's domain: the types every layer speaks, their validation, the limits, the presence state machine and the
//! traits the backends implement. Nothing here does I/O; time comes in as an argument.

pub mod app;
pub mod bus;
pub mod error;
pub mod event;
pub mod follow;
pub mod ids;
#[cfg(feature = "openapi")]
mod openapi;
pub mod paging;
pub mod platform;
pub mod presence;
pub mod registry;
pub mod store;
pub mod subscription;

pub use app::{App, AppLimits};
pub use error::{Error, Result};
pub use ids::{AppId, ConnectionId, NodeId, UserId};
pub use platform::Platform;

/// Milliseconds since the Unix epoch: the one clock unit of the domain.
pub type Millis = i64;
