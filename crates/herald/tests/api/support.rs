//! Shared helpers of the black-box tests: each test starts the real `herald` binary on a free loopback port with
//! its own data folder, and talks to it over HTTP and WebSocket like any client would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
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
    /// Keep the server's stderr in [`Server::stderr`] even when HERALD_TEST_LOG asks for it on the test's stderr,
    /// for tests that read the log.
    pub capture_stderr: bool,
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
            capture_stderr: false,
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
    /// What the server printed on stdout (credentials, the listen line) and stderr (its log, unless HERALD_TEST_LOG
    /// sends that to the test's own stderr).
    pub stdout: Output,
    pub stderr: Output,
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
            .stderr(if std::env::var("HERALD_TEST_LOG").is_ok() && !opts.capture_stderr {
                Stdio::inherit()
            } else {
                Stdio::piped()
            });
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
        let (stdout, stderr) = (Output::default(), Output::default());
        let stderr_done = child.stderr.take().map(|e| collect(e, stderr.clone(), |_| {}));
        let addr = match wait_for_listen_line(&mut child, &stdout) {
            Ok(addr) => addr,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                stderr_done.map(|t| t.join());
                panic!("{why}; its stderr:\n{}", stderr.lines().join("\n"));
            }
        };
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
            stdout,
            stderr,
        }
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A WebSocket upgrade request to `url` made with plain HTTP, so a refusal's status and body can be read.
    pub async fn upgrade_request(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .expect("upgrade request")
    }

    /// Send a signal (`STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// SIGTERM, then wait up to `within` for the process to exit; returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for herald") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "herald did not exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
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

    /// Like [`Server::connect`], over a TCP connection whose receive buffer is tiny: once the test stops reading,
    /// the server's writes to it block after a few frames.
    pub async fn connect_small_window(&self, user: &str, platform: &str) -> Ws {
        let token = self.token(user).await;
        let url = format!("{}/v1/ws?token={token}&platform={platform}", self.ws_base);
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let addr = self.base.trim_start_matches("http://").parse().expect("server address");
        let tcp = socket.connect(addr).await.expect("TCP connect");
        let (stream, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket handshake");
        let mut ws = Ws { stream, next_id: 1 };
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        ws
    }

    /// Whether the server process still holds the TCP connection whose client end is `client`: its socket (found
    /// by the connection's ports in /proc/net/tcp) is among the process's descriptors.
    pub fn holds_connection(&self, client: std::net::SocketAddr) -> bool {
        let server_port = self.base.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).expect("server port");
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        let port_of = |field: &str| field.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
        let inodes: Vec<String> = table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (port_of(f[1]) == Some(server_port) && port_of(f[2]) == Some(client.port())).then(|| f[9].to_owned())
            })
            .collect();
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).expect("the server's descriptors");
        fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .any(|target| inodes.iter().any(|inode| target.to_string_lossy() == format!("socket:[{inode}]")))
    }

    /// Wait up to `within` for the server to let go of the connection whose client end is `client`.
    pub async fn wait_dropped(&self, client: std::net::SocketAddr, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.holds_connection(client) {
            assert!(tokio::time::Instant::now() < deadline, "the server still holds the connection from {client}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Open the socket with a raw query string and wait for the server's `connected` frame.
    pub async fn connect_with_query(&self, query: &str) -> Ws {
        let mut ws = Ws::open(&format!("{}/v1/ws?{query}", self.ws_base)).await;
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        ws
    }
}

/// Start `herald serve` on the data folder `data`, expecting it to refuse; returns what it said on stderr.
pub fn refused_start(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove("HERALD_CONFIG")
        .env_remove("HERALD_DATABASE_URL")
        .env_remove("HERALD_REDIS_URL")
        .output()
        .expect("run herald");
    assert!(!out.status.success(), "herald started on {}", data.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Start `herald serve` with this herald.toml on a fresh data folder, expecting it to refuse; returns what it said
/// on stderr.
pub fn refused_config(config_toml: &str) -> String {
    let data = tempfile::tempdir().expect("temp dir");
    let path = data.path().join("herald.toml");
    std::fs::write(&path, config_toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .arg("--data")
        .arg(data.path())
        .env_remove("HERALD_CONFIG")
        .output()
        .expect("run herald");
    assert!(!out.status.success(), "herald started with:\n{config_toml}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Lines a server printed, kept for the test to look at (bounded: a test server prints little).
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    const MAX_LINES: usize = 10_000;

    fn push(&self, line: String) {
        let mut lines = self.0.lock();
        if lines.len() < Self::MAX_LINES {
            lines.push(line);
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().iter().any(|l| l.contains(needle))
    }
}

/// Drain a child's stream into `out` (so the child never blocks on a full pipe), calling `on_line` on each line.
fn collect(
    stream: impl std::io::Read + Send + 'static,
    out: Output,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            on_line(&line);
            out.push(line);
        }
    })
}

/// The address of the "herald listening on" line, or why there is none.
fn wait_for_listen_line(child: &mut Child, stdout: &Output) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut tx = Some(tx);
    collect(child.stdout.take().expect("piped stdout"), stdout.clone(), move |line| {
        if let Some(addr) = line.strip_prefix("herald listening on ")
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(addr.trim().to_owned());
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => "herald did not report its listen address within 30 s".to_owned(),
        std::sync::mpsc::RecvTimeoutError::Disconnected => "herald exited before it was listening".to_owned(),
    })
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
    /// Open a socket at `url`; the server's first frame is left for the caller to read.
    pub async fn open(url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        Ws { stream, next_id: 1 }
    }

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

    /// The client end of the connection.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        match self.stream.get_ref() {
            tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("local address"),
            _ => unreachable!("tests use plain TCP"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
