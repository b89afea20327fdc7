//! Per-app request rates of the vendor dialects that publish one. Each dialect keeps its own `AppRateLimits`
//! (its routes, its quota field), backed by one `governor` limiter per app created on the app's first request.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use herald_core::AppId;
use parking_lot::RwLock;

#[derive(Default)]
pub struct AppRateLimits {
    by_app: RwLock<HashMap<AppId, Arc<DefaultDirectRateLimiter>>>,
}

impl AppRateLimits {
    /// Count one request of `app` against `per_second` (0 = unlimited); `false` when it is over its rate.
    /// A burst of up to one second's worth is allowed.
    pub fn allow(&self, app: &AppId, per_second: u32) -> bool {
        let Some(rate) = NonZeroU32::new(per_second) else { return true };
        self.limiter(app, rate).check().is_ok()
    }

    fn limiter(&self, app: &AppId, rate: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        if let Some(l) = self.by_app.read().get(app) {
            return l.clone();
        }
        self.by_app
            .write()
            .entry(app.clone())
            .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_second(rate))))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_and_apps_are_independent() {
        let limits = AppRateLimits::default();
        let (a, b) = (AppId::parse("a").unwrap(), AppId::parse("b").unwrap());
        let granted = (0..50).filter(|_| limits.allow(&a, 10)).count();
        // Ten in the burst, plus whatever trickled in while the loop ran.
        assert!((10..50).contains(&granted), "{granted}");
        assert!(limits.allow(&b, 10));
        assert!((0..1000).all(|_| limits.allow(&a, 0)), "0 means unlimited");
    }
}
