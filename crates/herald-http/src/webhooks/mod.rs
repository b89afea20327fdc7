//! Delivery of webhooks to app servers, shared by every dialect that has them.
//!
//! Deliveries are spread over a fixed number of lanes by an ordering key (the user ID), so one user's webhooks
//! arrive in order while different users' go out in parallel. A failed delivery is retried with exponential backoff
//! on its lane. Enqueueing never waits: presence changes must not slow down because an app server is slow, so a
//! full lane drops the delivery with a warning.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{DELIVERED, DROPPED, GIVEN_UP, WEBHOOK_DELIVERIES, WEBHOOK_QUEUE_DEPTH, WEBHOOK_RETRIES};

/// Builds the URL of one attempt, so signatures with timestamps are fresh on every retry.
pub type UrlBuilder = Arc<dyn Fn() -> String + Send + Sync>;

/// One webhook call.
pub struct Delivery {
    pub url: UrlBuilder,
    pub body: Vec<u8>,
    /// Extra request headers (signatures computed over the body at enqueue time).
    pub headers: Vec<(&'static str, String)>,
    /// A short name for logs, e.g. "rongcloud.status".
    pub kind: &'static str,
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_attempts: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct WebhookDispatcher {
    lanes: Arc<Vec<mpsc::Sender<Queued>>>,
    work: TaskTracker,
    /// Lanes send what is queued, then end.
    finish: CancellationToken,
    /// Lanes end at once.
    stop: CancellationToken,
    /// Deliveries the lanes dropped when they were stopped.
    abandoned: Arc<AtomicUsize>,
    /// The API whose webhooks this handle sends, for metrics and logs (see [`WebhookDispatcher::for_dialect`]).
    dialect: &'static str,
}

/// A delivery on its lane, with the API it belongs to.
struct Queued {
    dialect: &'static str,
    delivery: Delivery,
}

/// The lane-side view of a dispatcher's shutdown.
#[derive(Clone)]
struct LaneControl {
    finish: CancellationToken,
    stop: CancellationToken,
    abandoned: Arc<AtomicUsize>,
}

const LANES: usize = 16;
const LANE_QUEUE: usize = 10_000;

impl WebhookDispatcher {
    /// Start the lanes on the current runtime; they run until [`WebhookDispatcher::shutdown`].
    pub fn start(policy: RetryPolicy) -> Self {
        let client = reqwest::Client::builder().timeout(policy.timeout).build().unwrap_or_default();
        let work = TaskTracker::new();
        let control = LaneControl {
            finish: CancellationToken::new(),
            stop: CancellationToken::new(),
            abandoned: Arc::new(AtomicUsize::new(0)),
        };
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::channel(LANE_QUEUE);
                work.spawn(run_lane(client.clone(), policy.clone(), rx, control.clone()));
                tx
            })
            .collect();
        let LaneControl { finish, stop, abandoned } = control;
        Self { lanes: Arc::new(lanes), work, finish, stop, abandoned, dialect: "unknown" }
    }

    /// The same lanes, with deliveries counted under `dialect` ("native", or a dialect's name).
    pub fn for_dialect(&self, dialect: &'static str) -> Self {
        Self { dialect, ..self.clone() }
    }

    /// Send what is queued (retries included) for at most `flush`, then stop every lane and wait for them.
    /// Returns how many deliveries were dropped unsent, which is logged.
    pub async fn shutdown(&self, flush: Duration) -> usize {
        self.finish.cancel();
        self.work.close();
        if tokio::time::timeout(flush, self.work.wait()).await.is_err() {
            self.stop.cancel();
            self.work.wait().await;
        }
        let abandoned = self.abandoned.load(Ordering::Relaxed);
        if abandoned > 0 {
            tracing::warn!(abandoned, flush_secs = flush.as_secs_f64(), "webhooks not delivered before exit");
        }
        abandoned
    }

    /// Queue a delivery behind the earlier ones with the same ordering key.
    pub fn enqueue(&self, ordering_key: &str, delivery: Delivery) {
        let mut h = DefaultHasher::new();
        ordering_key.hash(&mut h);
        let lane = &self.lanes[(h.finish() as usize) % self.lanes.len()];
        match lane.try_send(Queued { dialect: self.dialect, delivery }) {
            Ok(()) => metrics::gauge!(WEBHOOK_QUEUE_DEPTH, "dialect" => self.dialect).increment(1.0),
            Err(e) => {
                metrics::counter!(WEBHOOK_DELIVERIES, "dialect" => self.dialect, "result" => DROPPED).increment(1);
                tracing::warn!(dialect = self.dialect, key = ordering_key, "webhook dropped: {e}");
            }
        }
    }
}

async fn run_lane(client: reqwest::Client, policy: RetryPolicy, mut rx: mpsc::Receiver<Queued>, control: LaneControl) {
    let LaneControl { finish, stop, abandoned } = control;
    loop {
        let d = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            d = rx.recv() => match d {
                Some(d) => d,
                None => break,
            },
            // Finishing, and nothing left to send.
            _ = finish.cancelled(), if rx.is_empty() => break,
        };
        let Queued { dialect, delivery } = d;
        metrics::gauge!(WEBHOOK_QUEUE_DEPTH, "dialect" => dialect).decrement(1.0);
        if !deliver(&client, &policy, dialect, delivery, &stop).await {
            abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
    abandoned.fetch_add(rx.len(), Ordering::Relaxed);
}

/// Send one delivery with retries; false if the lane was stopped before it was done with it.
async fn deliver(
    client: &reqwest::Client,
    policy: &RetryPolicy,
    dialect: &'static str,
    d: Delivery,
    stop: &CancellationToken,
) -> bool {
    let mut delay = policy.first_delay;
    for attempt in 1..=policy.max_attempts {
        let url = (d.url)();
        let mut request = client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in &d.headers {
            request = request.header(*name, value);
        }
        let result = tokio::select! {
            r = request.body(d.body.clone()).send() => r,
            _ = stop.cancelled() => return false,
        };
        match result {
            Ok(r) if r.status().is_success() => {
                metrics::counter!(WEBHOOK_DELIVERIES, "dialect" => dialect, "result" => DELIVERED).increment(1);
                return true;
            }
            Ok(r) => tracing::warn!(dialect, kind = d.kind, status = %r.status(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(dialect, kind = d.kind, error = %e, attempt, "webhook failed"),
        }
        if attempt == policy.max_attempts {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return false,
        }
        delay = (delay * 2).min(policy.max_delay);
        metrics::counter!(WEBHOOK_RETRIES, "dialect" => dialect).increment(1);
    }
    metrics::counter!(WEBHOOK_DELIVERIES, "dialect" => dialect, "result" => GIVEN_UP).increment(1);
    tracing::error!(dialect, kind = d.kind, attempts = policy.max_attempts, "webhook given up");
    true
}
