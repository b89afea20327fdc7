//! The load tool against a real server (the service and HTTP layers started in-process on a loopback port, with
//! the embedded store): tiny runs whose counts must come out exact. Nothing here depends on timing.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use herald_core::App;
use herald_memory::{MemoryBus, MemoryRegistry};
use herald_service::{AppDirectory, Backends, Herald, ServiceConfig};
use herald_sqlite::{Durability, SqliteStore};
use serde_json::Value;

const API_KEY: &str = "smoke-test-key";

struct Server {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start_server() -> Server {
    // The server's log goes to the test's captured output: shown when a test fails, silent otherwise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,herald_service=debug,herald_http=debug")
        .with_test_writer()
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("herald.db"), Durability::Normal).unwrap();
        let app: App = serde_json::from_value(serde_json::json!({ "app_id": "default", "api_key": API_KEY })).unwrap();
        herald_core::store::AppStore::insert_app_if_absent(&store, &app).await.unwrap();
        let backends = Backends {
            store: Arc::new(store),
            registry: Arc::new(MemoryRegistry::new()),
            bus: Arc::new(MemoryBus::new()),
        };
        // No grace: every connect and disconnect of a target is a change the subscribers must see.
        let config = ServiceConfig { grace: Duration::ZERO, ..ServiceConfig::default() };
        let herald =
            Herald::new(backends, AppDirectory::new([app]).unwrap(), config, herald_core::NodeId::new("smoke"));
        herald.start_background();
        let webhooks = herald_http::WebhookDispatcher::start(herald_http::RetryPolicy::default());
        let router = herald_http::build(herald, herald_http::HttpConfig::default(), &webhooks).unwrap().router;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    });
    Server { addr, _rt: rt, _dir: dir }
}

fn bench(server: &Server, args: &[&str]) -> Value {
    let base = format!("http://{}", server.addr);
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["--server", &base, "--api-key", API_KEY, "--no-redis", "--json"])
        .args(args)
        .output()
        .expect("run herald-bench");
    assert!(out.status.success(), "herald-bench failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn fact(report: &Value, name: &str) -> Value {
    report["facts"]
        .as_array()
        .and_then(|facts| facts.iter().find(|f| f[0] == name))
        .map(|f| f[1].clone())
        .unwrap_or_else(|| panic!("no fact {name:?} in {report}"))
}

#[test]
fn fanout_delivers_every_change_to_every_subscriber_exactly_once() {
    let server = start_server();
    let report =
        bench(&server, &["fanout", "--subscribers", "6", "--targets", "3", "--per-subscriber", "2", "--cycles", "3"]);
    // 6 subscribers x 2 watched targets x 3 cycles x (online + offline).
    assert_eq!(fact(&report, "deliveries expected"), 72);
    assert_eq!(fact(&report, "deliveries received"), 72, "{report:#}");
    assert_eq!(fact(&report, "lost"), 0);
    assert_eq!(fact(&report, "duplicated or unexpected"), 0);
    assert_eq!(fact(&report, "same state twice in a row"), 0);
    assert_eq!(report["rows"][0]["ops"], 72);
}

#[test]
fn api_run_answers_every_call_without_errors() {
    let server = start_server();
    let report = bench(&server, &["api", "--users", "300", "--secs", "0.3", "--concurrency", "2"]);
    let rows = report["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["presence-query", "subscribe", "fans-page", "following-page"]);
    for row in rows {
        assert_eq!(row["errors"], 0, "{row}");
        assert!(row["ops"].as_u64().unwrap_or(0) > 0, "{row}");
    }
}
