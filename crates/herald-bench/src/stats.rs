//! Latency samples and their percentiles.

use std::time::Duration;

use serde::Serialize;

/// Latency samples in microseconds. Kept raw (4 bytes each) and sorted once at the end: exact percentiles for the
/// few million samples a run makes.
#[derive(Default, Clone)]
pub struct Samples(Vec<u32>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn record(&mut self, d: Duration) {
        self.record_micros(d.as_micros() as i64);
    }

    /// Negative values (clock granularity) count as zero.
    pub fn record_micros(&mut self, us: i64) {
        self.0.push(us.clamp(0, u32::MAX as i64) as u32);
    }

    pub fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn summary(mut self) -> Option<Latency> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let at = |q: f64| {
            let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
            self.0[i] as f64 / 1000.0
        };
        let mean = self.0.iter().map(|&v| v as f64).sum::<f64>() / self.0.len() as f64 / 1000.0;
        Some(Latency { p50_ms: at(0.50), p99_ms: at(0.99), max_ms: at(1.0), mean_ms: mean })
    }
}

/// Percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Microseconds since the Unix epoch, comparable with the server's `at` (milliseconds) on the same machine.
pub fn unix_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}
