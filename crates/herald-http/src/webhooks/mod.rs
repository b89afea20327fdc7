//! Delivery of webhooks to app servers, shared by every dialect that has them.
//!
//! Deliveries are spread over a fixed number of lanes by an ordering key (the user ID), so one user's webhooks
//! arrive in order while different users' go out in parallel. A failed delivery is retried with exponential backoff
//! on its lane. Enqueueing never waits: presence changes must not slow down because an app server is slow, so a
//! full lane drops the delivery with a warning.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
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
    stop: CancellationToken,
    /// The API whose webhooks this handle sends, for metrics and logs (see [`WebhookDispatcher::for_dialect`]).
    dialect: &'static str,
}

/// A delivery on its lane, with the API it belongs to.
struct Queued {
    dialect: &'static str,
    delivery: Delivery,
}

const LANES: usize = 16;
const LANE_QUEUE: usize = 10_000;

impl WebhookDispatcher {
    /// Start the lanes on the current runtime; they run until [`WebhookDispatcher::shutdown`].
    pub fn start(policy: RetryPolicy) -> Self {
        let client = reqwest::Client::builder().timeout(policy.timeout).build().unwrap_or_default();
        let (work, stop) = (TaskTracker::new(), CancellationToken::new());
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::channel(LANE_QUEUE);
                work.spawn(run_lane(client.clone(), policy.clone(), rx, stop.clone()));
                tx
            })
            .collect();
        Self { lanes: Arc::new(lanes), work, stop, dialect: "unknown" }
    }

    /// The same lanes, with deliveries counted under `dialect` ("native", or a dialect's name).
    pub fn for_dialect(&self, dialect: &'static str) -> Self {
        Self { dialect, ..self.clone() }
    }

    /// Stop every lane and wait for them; what is still queued is not sent.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.work.close();
        self.work.wait().await;
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

async fn run_lane(
    client: reqwest::Client,
    policy: RetryPolicy,
    mut rx: mpsc::Receiver<Queued>,
    stop: CancellationToken,
) {
    while let Some(Queued { dialect, delivery: d }) =
        tokio::select! { d = rx.recv() => d, _ = stop.cancelled() => None }
    {
        metrics::gauge!(WEBHOOK_QUEUE_DEPTH, "dialect" => dialect).decrement(1.0);
        let mut delay = policy.first_delay;
        for attempt in 1..=policy.max_attempts {
            let url = (d.url)();
            let mut request = client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json");
            for (name, value) in &d.headers {
                request = request.header(*name, value);
            }
            let result = request.body(d.body.clone()).send().await;
            match result {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!(WEBHOOK_DELIVERIES, "dialect" => dialect, "result" => DELIVERED).increment(1);
                    break;
                }
                Ok(r) => tracing::warn!(dialect, kind = d.kind, status = %r.status(), attempt, "webhook refused"),
                Err(e) => tracing::warn!(dialect, kind = d.kind, error = %e, attempt, "webhook failed"),
            }
            if attempt == policy.max_attempts {
                metrics::counter!(WEBHOOK_DELIVERIES, "dialect" => dialect, "result" => GIVEN_UP).increment(1);
                tracing::error!(dialect, kind = d.kind, attempts = attempt, "webhook given up");
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => return,
            }
            delay = (delay * 2).min(policy.max_delay);
            metrics::counter!(WEBHOOK_RETRIES, "dialect" => dialect).increment(1);
        }
    }
}
