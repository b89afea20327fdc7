//! What a scenario found: rows of measurements (Herald's and the Redis reference's) and plain facts, printed as a
//! table or serialised as JSON.

use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use crate::stats::Latency;

#[derive(Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub rows: Vec<Row>,
    /// Setup and correctness facts (limits, memory, lost/duplicated counts, load times).
    pub facts: Vec<(String, Value)>,
}

#[derive(Serialize)]
pub struct Row {
    pub name: String,
    /// "herald" or "redis".
    pub system: &'static str,
    /// Operations done (requests, deliveries, connections).
    pub ops: u64,
    pub secs: f64,
    /// Operations per second.
    pub rate: f64,
    pub latency: Option<Latency>,
    pub errors: u64,
    /// For a Redis row: the Herald row it is the reference of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_for: Option<String>,
}

impl Row {
    pub fn herald(name: impl Into<String>, ops: u64, secs: f64, latency: Option<Latency>, errors: u64) -> Self {
        Self::new(name, "herald", ops, secs, latency, errors, None)
    }

    pub fn redis(name: impl Into<String>, reference_for: &str, ops: u64, secs: f64, latency: Option<Latency>) -> Self {
        Self::new(name, "redis", ops, secs, latency, 0, Some(reference_for.to_owned()))
    }

    fn new(
        name: impl Into<String>,
        system: &'static str,
        ops: u64,
        secs: f64,
        latency: Option<Latency>,
        errors: u64,
        reference_for: Option<String>,
    ) -> Self {
        let rate = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
        Self { name: name.into(), system, ops, secs, rate, latency, errors, reference_for }
    }
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self { scenario, rows: Vec::new(), facts: Vec::new() }
    }

    pub fn fact(&mut self, name: &str, value: impl Into<Value>) {
        self.facts.push((name.to_owned(), value.into()));
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Herald's rate as a fraction of its Redis reference, per Herald row that has one.
    fn ratios(&self) -> Vec<(String, f64, f64)> {
        self.rows
            .iter()
            .filter_map(|r| {
                let target = r.reference_for.as_ref()?;
                let herald = self.rows.iter().find(|h| h.system == "herald" && &h.name == target)?;
                (r.rate > 0.0).then(|| (format!("{} / {}", herald.name, r.name), herald.rate / r.rate, herald.rate))
            })
            .collect()
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "scenario: {}", self.scenario);
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(11);
        let _ = writeln!(
            out,
            "{:<width$}  {:<6}  {:>10}  {:>7}  {:>12}  {:>8}  {:>8}  {:>8}  {:>6}",
            "measurement", "system", "ops", "secs", "ops/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        for r in &self.rows {
            let (p50, p99, max) = match r.latency {
                Some(l) => (format!("{:.2}", l.p50_ms), format!("{:.2}", l.p99_ms), format!("{:.2}", l.max_ms)),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:<6}  {:>10}  {:>7.2}  {:>12.0}  {:>8}  {:>8}  {:>8}  {:>6}",
                r.name, r.system, r.ops, r.secs, r.rate, p50, p99, max, r.errors
            );
        }
        let ratios = self.ratios();
        if !ratios.is_empty() {
            let _ = writeln!(out, "\nHerald throughput as a fraction of the Redis reference:");
            for (name, ratio, _) in ratios {
                let _ = writeln!(out, "  {name}: {ratio:.2}x");
            }
        }
        if !self.facts.is_empty() {
            let _ = writeln!(out, "\nfacts:");
            for (k, v) in &self.facts {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
        out
    }
}
