//! Per-user ordering of presence changes on this node.

use std::hash::{BuildHasher, RandomState};

use herald_core::{AppId, UserId};
use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

/// Striped locks keyed by user: a change is applied and published while its stripe is held, so two changes of one
/// user can never be published in the opposite order of their application. Unrelated users rarely share a stripe.
pub(crate) struct UserOrder {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl UserOrder {
    pub fn new() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(), hasher: RandomState::new() }
    }

    pub async fn lock(&self, app: &AppId, user: &UserId) -> MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one((app, user)) as usize) % self.stripes.len();
        self.stripes[i].lock().await
    }
}
