//! The process's Prometheus recorder, behind `GET /metrics`.
//!
//! The `metrics` facade has one global recorder per process and it can be installed only once, so the first
//! Application of the process installs it and any later one shares it (the binary runs one).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use herald_http::MetricsEndpoint;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::MetricsConfig;

/// Upper bounds of the latency histograms' buckets, in seconds: from fast cache-like calls to slow backends.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// How often histogram samples are folded into their buckets when nobody scrapes (a scrape folds them too), so
/// they do not pile up in memory.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The `/metrics` endpoint for this configuration: none when metrics are off.
pub fn endpoint(config: &MetricsConfig) -> anyhow::Result<Option<MetricsEndpoint>> {
    if !config.enabled {
        return Ok(None);
    }
    let handle = handle()?;
    Ok(Some(MetricsEndpoint { render: Arc::new(move || handle.render()), token: config.token.clone() }))
}

/// The process's recorder, installed on first use. Must run inside the Tokio runtime (it starts the upkeep task).
fn handle() -> anyhow::Result<PrometheusHandle> {
    let mut slot = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
        .context("configuring the metrics recorder")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
    herald_service::metrics::register();
    herald_http::metrics::register();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    *slot = Some(handle.clone());
    Ok(handle)
}
