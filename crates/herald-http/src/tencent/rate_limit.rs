//! Per-app request rate limit of the Tencent dialect: a token bucket per app holding one second's worth of
//! calls, refilled continuously. Tencent limits the follow and online-status services to 200 calls per second per
//! app; Herald's limit is `AppLimits::tencent_requests_per_second` (0 turns it off).

use std::collections::HashMap;
use std::time::Instant;

use herald_core::AppId;
use parking_lot::Mutex;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<AppId, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// Take one call from the app's bucket; `false` when the app is over its rate.
    pub fn try_acquire(&self, app: &AppId, per_second: u32) -> bool {
        if per_second == 0 {
            return true;
        }
        let rate = f64::from(per_second);
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(app.clone()).or_insert(Bucket { tokens: rate, refilled: now });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_and_apps_are_independent() {
        let limiter = RateLimiter::default();
        let (a, b) = (AppId::parse("a").unwrap(), AppId::parse("b").unwrap());
        let granted = (0..50).filter(|_| limiter.try_acquire(&a, 10)).count();
        // Ten in the bucket, plus whatever trickled in while the loop ran.
        assert!((10..50).contains(&granted), "{granted}");
        assert!(limiter.try_acquire(&b, 10));
        assert!((0..1000).all(|_| limiter.try_acquire(&a, 0)), "0 means unlimited");
    }
}
