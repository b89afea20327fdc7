//! The scenarios, one module each, and the Redis reference measurements they share.

pub mod api;
pub mod connections;
pub mod drain;
pub mod fanout;
pub mod graph;
mod load;
mod redis_ref;
