//! Shared helpers of the black-box tests: each test starts the real `herald` binary on a free loopback port with
//! its own data folder, and talks to it over HTTP and WebSocket like any client would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// How a test server is started.
#[derive(Clone)]
pub struct Options {
    /// Reuse this data folder (to restart on the same data); a fresh temporary one otherwise.
    pub data: Option<PathBuf>,
    pub grace_secs: f64,
    pub heartbeat_timeout_secs: f64,
    /// Written to herald.toml in the data folder and passed with --config.
    pub config_toml: Option<String>,
    pub env: Vec<(String, String)>,
    /// Cluster mode: the shared PostgreSQL database (`--database-url`) and schema (`--database-schema`).
    pub database_url: Option<String>,
    pub database_schema: Option<String>,
    /// Cluster mode: the shared Redis (`--redis-url`) and key prefix (`--redis-prefix`).
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    /// `--node-ttl-secs`: how soon the other nodes notice this one died.
    pub node_ttl_secs: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            data: None,
            grace_secs: 0.2,
            heartbeat_timeout_secs: 30.0,
            config_toml: None,
            env: Vec::new(),
            database_url: None,
            database_schema: None,
            redis_url: None,
            redis_prefix: None,
            node_ttl_secs: None,
        }
    }
}

pub struct Server {
    child: Child,
    pub base: String,
    pub ws_base: String,
    pub data: PathBuf,
    /// Kept so the temporary folder lives as long as the server.
    _tmp: Option<tempfile::TempDir>,
    pub credentials: Value,
    pub api_key: String,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Self {
        let (data, tmp) = match &opts.data {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::tempdir().expect("temp dir");
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(&data).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(&data)
            .arg("--grace-secs")
            .arg(opts.grace_secs.to_string())
            .arg("--heartbeat-timeout-secs")
            .arg(opts.heartbeat_timeout_secs.to_string())
            .env("HERALD_LOG", std::env::var("HERALD_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("HERALD_CONFIG")
            .stdout(Stdio::piped())
            .stderr(if std::env::var("HERALD_TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() });
        if let Some(toml) = &opts.config_toml {
            let path = data.join("herald.toml");
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--config").arg(path);
        }
        // Cluster settings come only from the options, never from the environment of the test run.
        for var in ["HERALD_DATABASE_URL", "HERALD_DATABASE_SCHEMA", "HERALD_REDIS_URL", "HERALD_REDIS_PREFIX"] {
            cmd.env_remove(var);
        }
        for (flag, value) in [
            ("--database-url", opts.database_url.clone()),
            ("--database-schema", opts.database_schema.clone()),
            ("--redis-url", opts.redis_url.clone()),
            ("--redis-prefix", opts.redis_prefix.clone()),
            ("--node-ttl-secs", opts.node_ttl_secs.map(|s| s.to_string())),
        ] {
            if let Some(value) = value {
                cmd.arg(flag).arg(value);
            }
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn herald");
        let addr = wait_for_listen_line(&mut child);
        let credentials = read_credentials(&data);
        let api_key = credentials["api_key"].as_str().unwrap_or_default().to_owned();
        Server {
            child,
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
            data,
            _tmp: tmp,
            credentials,
            api_key,
            http: reqwest::Client::new(),
        }
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Take the data folder's ownership away from this server, so a restart can reuse it.
    pub fn keep_data(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.api_key).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, ids: &[&str]) {
        let users: Vec<Value> = ids.iter().map(|id| json!({"user_id": id})).collect();
        let (status, body) = self.post("/v1/users", json!({ "users": users })).await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn token(&self, user: &str) -> String {
        let (status, body) = self.post("/v1/tokens", json!({"user_id": user})).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Register-free connect: mint a token and open the socket.
    pub async fn connect(&self, user: &str, platform: &str) -> Ws {
        let token = self.token(user).await;
        self.connect_with_token(&token, platform).await
    }

    pub async fn connect_with_token(&self, token: &str, platform: &str) -> Ws {
        self.connect_with_query(&format!("token={token}&platform={platform}")).await
    }

    /// Open the socket with a raw query string and wait for the server's `connected` frame.
    pub async fn connect_with_query(&self, query: &str) -> Ws {
        let url = format!("{}/v1/ws?{query}", self.ws_base);
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        let mut ws = Ws { stream, next_id: 1 };
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        ws
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for_listen_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("herald listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("herald did not report its listen address within 30 s")
}

fn read_credentials(data: &Path) -> Value {
    std::fs::read_to_string(data.join("credentials.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of the native gateway.
pub struct Ws {
    pub stream: Stream,
    next_id: u64,
}

impl Ws {
    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::Text(frame.to_string().into())).await.expect("send frame");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream.send(Message::Text(text.to_owned().into())).await.expect("send frame");
    }

    /// The next text frame, within 5 s.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(Duration::from_secs(5)).await.expect("no frame within 5 s")
    }

    /// The next text frame within `d`, or `None`.
    pub async fn recv_within(&mut self, d: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match msg.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).expect("JSON frame")),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Send a request frame with a fresh id and return the reply carrying that id (events in between are
    /// returned too, in order, as the second element).
    pub async fn request(&mut self, mut frame: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        self.send(frame).await;
        let mut skipped = Vec::new();
        loop {
            let f = self.recv().await;
            if f["id"] == json!(id) {
                return (f, skipped);
            }
            skipped.push(f);
        }
    }

    pub async fn subscribe(&mut self, users: &[&str]) -> Value {
        let (reply, _) = self.request(json!({"type": "subscribe", "user_ids": users})).await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply
    }

    /// The next presence event, skipping nothing else.
    pub async fn presence(&mut self) -> Value {
        let f = self.recv().await;
        assert_eq!(f["type"], "presence", "{f}");
        f
    }

    /// Wait until the socket is closed by the server; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("socket not closed within 10 s"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
