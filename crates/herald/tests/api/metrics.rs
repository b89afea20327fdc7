//! `GET /metrics`: a scripted scenario moves every counter it touches by exactly its amount, the endpoint can be
//! protected or switched off, and the shipped Grafana dashboard asks only for metrics the server exports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Options, Server};

/// A metric, its labels, and how far the scenario moves it.
type Expected = (&'static str, Vec<(&'static str, &'static str)>, f64);

/// One scrape: every sample by metric name and label set, and the metric names its `# TYPE` lines declare.
struct Scrape {
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
    names: BTreeSet<String>,
    text: String,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let mut samples = BTreeMap::new();
        let mut names = BTreeSet::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                names.insert(rest.split_whitespace().next().expect("a name after # TYPE").to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').expect("closing brace"))),
                None => (series, BTreeMap::new()),
            };
            samples.insert((name.to_owned(), labels), value);
        }
        Self { samples, names, text }
    }

    /// The sample with exactly these labels, if the server exports it.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// The sum over every series of a metric.
    fn total(&self, name: &str) -> f64 {
        self.samples.iter().filter(|((n, _), _)| n == name).map(|(_, v)| v).sum()
    }
}

/// `a="x",b="y"`; the server's values here never hold quotes or commas.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("a label in {text}"));
            (k.to_owned(), v.trim_end_matches('"').to_owned())
        })
        .collect()
}

async fn scrape(s: &Server) -> Scrape {
    let r = s.http.get(format!("{}/metrics", s.base)).send().await.expect("scrape");
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    Scrape::parse(r.text().await.unwrap())
}

/// A webhook receiver that fails its first call and accepts the others; returns its URL and the accepted count.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let (calls, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counted = accepted.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (calls, accepted) = (calls.clone(), counted.clone());
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                accepted.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, accepted)
}

/// Scrape until `done` holds (the server finishes some work after the client has seen its effect), for at most
/// 10 s; the caller then checks exact values on the last scrape.
async fn scrape_when(s: &Server, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(s).await;
        if done(&now) || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_scripted_scenario_moves_each_counter_by_its_exact_amount() {
    let (url, accepted) = receiver().await;
    let toml = format!("[default_app.webhooks]\nnative_url = \"{url}\"\n");
    let s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    let before = scrape(&s).await;
    // Every series with known labels is there from the start, at zero.
    for (name, labels) in [
        ("herald_ws_connections", vec![("platform", "web")]),
        ("herald_online_users", vec![]),
        ("herald_ws_disconnects_total", vec![("cause", "slow_consumer")]),
        ("herald_heartbeat_timeouts_total", vec![]),
        ("herald_node_reaps_total", vec![]),
        ("herald_webhook_deliveries_total", vec![("dialect", "tencent"), ("result", "given_up")]),
        ("herald_webhook_queue_depth", vec![("dialect", "rongcloud")]),
        ("herald_store_call_duration_seconds_count", vec![("op", "follow_page")]),
    ] {
        assert_eq!(before.get(name, &labels), Some(0.0), "{name} {labels:?} at start");
    }

    s.register(&["alice", "bob", "carol"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;
    let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "carol", "targets": ["alice", "bob"]})).await;
    assert_eq!(status, 200, "{body}");
    let mut bob = s.connect("bob", "ios").await;
    assert_eq!(alice.presence().await["online"], true);
    let (status, body) = s.post("/v1/follows", json!({"follower": "carol", "followees": ["alice", "bob"]})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.post("/v1/connections/kick", json!({"user_id": "bob"})).await;
    assert_eq!((status, body["kicked"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(bob.closed().await, Some(4000));
    assert_eq!(alice.presence().await["cause"], "kicked");
    alice.close().await;
    let (status, body) = s.post("/v1/subscriptions/delete", json!({"subscriber": "carol", "targets": ["bob"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get("/v1/users/alice").await.0, 200);
    assert_eq!(s.get("/no/such/route").await.0, 404);

    // Four presence changes (alice and bob online, bob kicked, alice offline after the grace period) and one
    // follow event go to the webhook; its first call fails and is retried.
    let after = scrape_when(&s, |m| {
        m.total("herald_presence_changes_total") >= 4.0
            && m.total("herald_ws_disconnects_total") >= 2.0
            && m.get("herald_webhook_deliveries_total", &[("dialect", "native"), ("result", "delivered")]) >= Some(5.0)
    })
    .await;
    assert_eq!(accepted.load(Ordering::SeqCst), 5, "the receiver accepted each webhook once");

    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.get(name, labels).unwrap_or_else(|| panic!("{name} {labels:?} is exported"))
            - before.get(name, labels).unwrap_or(0.0)
    };
    let expected: Vec<Expected> = vec![
        ("herald_ws_connects_total", vec![("platform", "web")], 1.0),
        ("herald_ws_connects_total", vec![("platform", "ios")], 1.0),
        ("herald_ws_disconnects_total", vec![("cause", "kicked")], 1.0),
        ("herald_ws_disconnects_total", vec![("cause", "client")], 1.0),
        ("herald_ws_disconnects_total", vec![("cause", "heartbeat_timeout")], 0.0),
        ("herald_ws_disconnects_total", vec![("cause", "slow_consumer")], 0.0),
        ("herald_heartbeat_timeouts_total", vec![], 0.0),
        ("herald_slow_consumer_closes_total", vec![("reason", "send_queue_full")], 0.0),
        ("herald_presence_changes_total", vec![("cause", "connected")], 2.0),
        ("herald_presence_changes_total", vec![("cause", "kicked")], 1.0),
        ("herald_presence_changes_total", vec![("cause", "disconnected")], 1.0),
        ("herald_presence_changes_total", vec![("cause", "timed_out")], 0.0),
        // alice's socket got bob's two changes; carol, subscribed to both, was never connected.
        ("herald_deliveries_queued_total", vec![], 2.0),
        ("herald_subscription_writes_total", vec![("op", "subscribe")], 3.0),
        ("herald_subscription_writes_total", vec![("op", "unsubscribe")], 1.0),
        ("herald_follow_writes_total", vec![("op", "follow")], 2.0),
        ("herald_follow_writes_total", vec![("op", "unfollow")], 0.0),
        ("herald_bus_published_total", vec![("kind", "presence")], 4.0),
        // Two subscribes, one unsubscribe, one kick.
        ("herald_bus_published_total", vec![("kind", "control")], 4.0),
        ("herald_webhook_deliveries_total", vec![("dialect", "native"), ("result", "delivered")], 5.0),
        ("herald_webhook_deliveries_total", vec![("dialect", "native"), ("result", "given_up")], 0.0),
        ("herald_webhook_retries_total", vec![("dialect", "native")], 1.0),
        ("herald_http_requests_total", vec![("route", "/v1/users"), ("method", "POST"), ("status", "200")], 1.0),
        ("herald_http_requests_total", vec![("route", "/v1/tokens"), ("method", "POST"), ("status", "200")], 2.0),
        ("herald_http_requests_total", vec![("route", "/v1/ws"), ("method", "GET"), ("status", "101")], 2.0),
        (
            "herald_http_requests_total",
            vec![("route", "/v1/users/{user_id}"), ("method", "GET"), ("status", "200")],
            1.0,
        ),
        ("herald_http_requests_total", vec![("route", "unmatched"), ("method", "GET"), ("status", "404")], 1.0),
        ("herald_http_request_duration_seconds_count", vec![("route", "/v1/users"), ("method", "POST")], 1.0),
        ("herald_store_call_duration_seconds_count", vec![("op", "register_users")], 1.0),
        ("herald_store_call_duration_seconds_count", vec![("op", "subscribe")], 2.0),
        ("herald_store_call_duration_seconds_count", vec![("op", "unsubscribe")], 1.0),
        ("herald_store_call_duration_seconds_count", vec![("op", "follow")], 1.0),
        ("herald_store_errors_total", vec![("op", "subscribe")], 0.0),
        ("herald_node_reaps_total", vec![], 0.0),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(name, labels, want)| moved(name, labels) != *want)
        .map(|(name, labels, want)| format!("{name} {labels:?}: moved {}, expected {want}", moved(name, labels)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Gauges are levels: everyone has left.
    for platform in ["web", "ios"] {
        assert_eq!(after.get("herald_ws_connections", &[("platform", platform)]), Some(0.0), "{platform}");
    }
    assert_eq!(after.get("herald_online_users", &[]), Some(0.0));
    assert_eq!(after.get("herald_webhook_queue_depth", &[("dialect", "native")]), Some(0.0));

    // Labels name routes and kinds, never users or raw paths.
    for user in ["alice", "bob", "carol", "/no/such/route"] {
        assert!(!after.text.contains(user), "{user} appears in the scrape");
    }
}

#[tokio::test]
async fn gauges_count_the_connections_open_now() {
    let s = Server::start().await;
    s.register(&["alice", "bob"]).await;
    let _a1 = s.connect("alice", "web").await;
    let _a2 = s.connect("alice", "ios").await;
    let _b = s.connect("bob", "web").await;
    let m = scrape(&s).await;
    assert_eq!(m.get("herald_ws_connections", &[("platform", "web")]), Some(2.0));
    assert_eq!(m.get("herald_ws_connections", &[("platform", "ios")]), Some(1.0));
    assert_eq!(m.get("herald_online_users", &[]), Some(2.0), "users, not connections");
}

#[tokio::test]
async fn a_token_protects_the_endpoint() {
    let toml = "[metrics]\ntoken = \"s3cret\"\n".to_owned();
    let s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    let url = format!("{}/metrics", s.base);
    let without = s.http.get(&url).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(without.headers()["www-authenticate"], "Bearer");
    let wrong = s.http.get(&url).bearer_auth("s3cre").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let api_key = s.http.get(&url).bearer_auth(&s.api_key).send().await.unwrap();
    assert_eq!(api_key.status(), StatusCode::UNAUTHORIZED, "the API key is not the metrics token");
    let right = s.http.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("# TYPE herald_ws_connections gauge"));
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let toml = "[metrics]\nenabled = false\n".to_owned();
    let s = Server::start_with(Options { config_toml: Some(toml), ..Options::default() }).await;
    let r = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "not_found");
}

#[test]
fn an_empty_token_is_refused() {
    let said = crate::support::refused_config("[metrics]\ntoken = \"\"\n");
    assert!(said.contains("metrics.token must not be empty"), "{said}");
}

/// Every metric name the dashboard's queries mention, without the suffixes of a histogram's series.
fn dashboard_metric_names() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/herald.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).unwrap();
    let mut queries = Vec::new();
    collect_exprs(&dashboard, &mut queries);
    assert!(!queries.is_empty(), "the dashboard has queries");
    let mut names = BTreeSet::new();
    for query in queries {
        let mut rest = query.as_str();
        while let Some(at) = rest.find("herald_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
            rest = &rest[at + name.len()..];
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
            names.insert(base.to_owned());
        }
    }
    names
}

/// The `expr` of every target, wherever panels nest them.
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_exprs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_dashboard_asks_only_for_exported_metrics() {
    let wanted = dashboard_metric_names();
    assert!(wanted.contains("herald_ws_connections") && wanted.len() >= 10, "{wanted:?}");
    let s = Server::start().await;
    // HTTP series exist once a request has been answered.
    assert_eq!(s.get("/healthz").await.0, 200);
    let exported = scrape(&s).await.names;
    let missing: Vec<&String> = wanted.difference(&exported).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics the server does not export: {missing:?}");
}
