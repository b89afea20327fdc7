//! The per-app request rate of the RongCloud routes (`AppLimits::rongcloud_requests_per_second`; 0 = unlimited),
//! enforced with one `governor` limiter per app, created on the app's first request.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use herald_core::{App, AppId};
use parking_lot::RwLock;

use super::error::RcError;

#[derive(Default)]
pub struct RateLimits {
    by_app: RwLock<HashMap<AppId, Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimits {
    /// Count one request of `app`; 1008 when it is over its rate.
    pub fn check(&self, app: &App) -> Result<(), RcError> {
        let per_second = app.limits.rongcloud_requests_per_second;
        let Some(rate) = NonZeroU32::new(per_second) else { return Ok(()) };
        let limiter = self.limiter(&app.app_id, rate);
        limiter.check().map_err(|_| RcError::rate_limited(per_second))
    }

    fn limiter(&self, app: &AppId, rate: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        if let Some(l) = self.by_app.read().get(app) {
            return l.clone();
        }
        self.by_app.write().entry(app.clone()).or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_second(rate)))).clone()
    }
}
