//! A closed-loop HTTP load: `concurrency` clients, each sending its next request when the previous one is answered,
//! for a fixed time. Every request is timed; a non-2xx answer or one the call's check rejects is an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Samples;

pub struct LoadResult {
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    pub samples: Samples,
    /// The first error seen, to show what went wrong.
    pub first_error: Option<String>,
}

/// Builds request number `i` (a fresh random choice of users each time).
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;
/// Accepts or rejects an answer's body (for dialects that report errors inside a 200).
pub type CheckBody = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

pub async fn closed_loop(
    http: &reqwest::Client,
    concurrency: usize,
    secs: f64,
    make: MakeRequest,
    check: Option<CheckBody>,
) -> LoadResult {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|t| {
            let (http, make, check) = (http.clone(), make.clone(), check.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let (mut errors, mut first_error) = (0u64, None);
                let mut i = t as u64 * 1_000_003;
                while Instant::now() < until {
                    let t0 = Instant::now();
                    let outcome = match make(&http, i).send().await {
                        Ok(r) => {
                            let status = r.status();
                            match r.bytes().await {
                                Ok(body) if status.is_success() && check.as_ref().is_none_or(|c| c(&body)) => Ok(()),
                                Ok(body) => {
                                    Err(format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
                                }
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    match outcome {
                        Ok(()) => samples.record(t0.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                    i += 1;
                }
                (samples, errors, first_error)
            })
        })
        .collect();
    let mut result = LoadResult { ok: 0, errors: 0, secs: 0.0, samples: Samples::default(), first_error: None };
    for t in tasks {
        if let Ok((samples, errors, first_error)) = t.await {
            result.ok += samples.len() as u64;
            result.samples.merge(samples);
            result.errors += errors;
            if result.first_error.is_none() {
                result.first_error = first_error;
            }
        }
    }
    result.secs = started.elapsed().as_secs_f64();
    result
}
