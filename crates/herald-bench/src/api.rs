//! A small client of the native HTTP API, for setting up users, tokens, subscriptions and follows.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::cli::Target;

/// Setup calls in flight at once.
pub const SETUP_CONCURRENCY: usize = 32;

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub api_key: String,
    /// The server's credentials.json, when given (the dialects' credentials live there).
    pub credentials: Value,
}

impl Api {
    pub fn new(target: &Target) -> anyhow::Result<Self> {
        let credentials = match &target.credentials {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Value::Null,
        };
        let api_key = match (&target.api_key, credentials["api_key"].as_str()) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k.to_owned(),
            (None, None) => bail!("give --credentials <data>/credentials.json or --api-key"),
        };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).tcp_nodelay(true).build()?;
        Ok(Self { http, base: target.server.trim_end_matches('/').to_owned(), api_key, credentials })
    }

    pub fn ws_base(&self) -> String {
        self.base.replacen("http", "ws", 1)
    }

    /// POST a native call; anything but 200 is an error carrying the body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.api_key).json(body).send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status}: {body}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.api_key).send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// Register users in batches of 1000; returns how long it took.
    pub async fn register(&self, ids: &[String]) -> anyhow::Result<Duration> {
        let started = Instant::now();
        stream::iter(ids.chunks(1000))
            .map(|chunk| async move {
                let users: Vec<Value> = chunk.iter().map(|id| json!({ "user_id": id })).collect();
                self.post("/v1/users", &json!({ "users": users })).await
            })
            .buffer_unordered(SETUP_CONCURRENCY.min(8))
            .try_collect::<Vec<_>>()
            .await?;
        Ok(started.elapsed())
    }

    /// A client token per user, in input order.
    pub async fn tokens(&self, ids: &[String]) -> anyhow::Result<Vec<String>> {
        stream::iter(ids)
            .map(|id| async move {
                let body = self.post("/v1/tokens", &json!({ "user_id": id })).await?;
                body["token"].as_str().map(str::to_owned).context("token missing from /v1/tokens")
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Subscribe each (subscriber, targets) pair, 200 targets per call.
    pub async fn subscribe_all(&self, pairs: Vec<(String, Vec<String>)>) -> anyhow::Result<()> {
        let calls: Vec<(String, Vec<String>)> = pairs
            .into_iter()
            .flat_map(|(s, targets)| targets.chunks(200).map(|c| (s.clone(), c.to_vec())).collect::<Vec<_>>())
            .collect();
        stream::iter(calls)
            .map(|(subscriber, targets)| async move {
                self.post("/v1/subscriptions", &json!({ "subscriber": subscriber, "targets": targets })).await
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Follow: each (follower, followees) pair, 100 followees per call, `concurrency` calls in flight.
    pub async fn follow_all(&self, pairs: Vec<(String, Vec<String>)>, concurrency: usize) -> anyhow::Result<u64> {
        let calls: Vec<(String, Vec<String>)> = pairs
            .into_iter()
            .flat_map(|(f, fs)| fs.chunks(100).map(|c| (f.clone(), c.to_vec())).collect::<Vec<_>>())
            .collect();
        let edges: usize = calls.iter().map(|(_, f)| f.len()).sum();
        stream::iter(calls)
            .map(|(follower, followees)| async move {
                self.post("/v1/follows", &json!({ "follower": follower, "followees": followees })).await
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(edges as u64)
    }
}

/// A fresh prefix for this run's user IDs, so repeated runs on one server never see each other's data.
pub fn run_prefix(target: &Target) -> String {
    target.prefix.clone().unwrap_or_else(|| format!("b{:08x}", rand::random::<u32>()))
}
