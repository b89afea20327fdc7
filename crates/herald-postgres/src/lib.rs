//! The clustered store: PostgreSQL through a connection pool, shared by every node.
//!
//! Reads run on any pooled connection. Writes that check a limit or keep a counter run in SERIALIZABLE
//! transactions and are retried on serialization failures, so concurrent nodes can never push a subscriber or a
//! follower past its limit, nor leave a counter out of step with the edges it counts.

mod apps;
mod follows;
mod pool;
mod schema;
mod subscriptions;
mod tokens;
mod users;

pub use pool::{PostgresOptions, PostgresStore};
