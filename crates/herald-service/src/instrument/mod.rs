//! Decorators that measure the backends from outside, so no backend carries metrics code of its own and every
//! backend is measured the same way.

mod bus;
mod store;

pub(crate) use bus::InstrumentedBus;
pub(crate) use store::InstrumentedStore;
