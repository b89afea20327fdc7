//! Backend outages: the connection to PostgreSQL or to Redis is cut (a proxy in between resets it and refuses new
//! ones) and restored. Meanwhile writes answer a clear 503 in each API's format within a bound, open WebSockets
//! stay open; afterwards the node recovers by itself.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::proxy::Proxy;
use crate::support::{Options, Server, Ws};

/// Longest any call may take while a backend is cut off: it must fail, not hang.
const BOUND: Duration = Duration::from_secs(15);

/// A Redis server of the test's own, on a free port, stopped when dropped.
struct PrivateRedis {
    child: Child,
    addr: SocketAddr,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (the Debian package redis-server provides it)");
        // Owned at once, so it is stopped and reaped whatever happens next.
        let redis = Self { child, addr: format!("127.0.0.1:{port}").parse().unwrap() };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(redis.addr).await.is_ok() {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not listen on {}", redis.addr);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn timed<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, call).await.unwrap_or_else(|_| panic!("{what} hung for {BOUND:?} during the outage"))
}

async fn ping(ws: &mut Ws) {
    let (pong, _) = ws.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "{pong}");
}

// Multi-threaded: the proxy's tasks must run while the test's thread waits for the server to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_presence_writes_fast_and_the_node_recovers_by_itself() {
    let redis = PrivateRedis::start().await;
    let proxy = Proxy::start(redis.addr).await;
    let s = Server::start_with(Options {
        redis_url: Some(format!("redis://{}", proxy.addr)),
        grace_secs: 0.0,
        ..Options::default()
    })
    .await;
    s.register(&["alice", "bob", "carol"]).await;
    let mut alice = s.connect("alice", "web").await;
    alice.subscribe(&["bob"]).await;

    proxy.cut();
    // A presence write needs Redis: a clear 503, not a hang; a new connection is refused the same way.
    let (status, body) = timed(
        "a report",
        s.post("/v1/presence/report", json!({"user_id": "bob", "online": true, "platform": "ios", "ttl": 60})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("backend_unavailable")), "{body}");
    // The open socket stays open and answers; readiness names what failed.
    timed("a ping", ping(&mut alice)).await;
    let r = timed("readiness", s.http.get(format!("{}/readyz", s.base)).send()).await.expect("readyz");
    assert_eq!(r.status().as_u16(), 503);
    let ready: Value = r.json().await.expect("JSON readiness");
    assert_eq!(
        (ready["status"].as_str(), ready["checks"]["store"].as_str()),
        (Some("unavailable"), Some("ok")),
        "{ready}"
    );
    assert_ne!(ready["checks"]["presence"], "ok", "{ready}");

    proxy.restore();
    // Recovered by itself: presence writes work, and events cross the bus again (its subscriptions are back).
    let deadline = tokio::time::Instant::now() + BOUND;
    let bob = loop {
        let token = s.token("bob").await;
        let url = format!("{}/v1/ws?token={token}&platform=ios", s.ws_base);
        if let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(url.as_str())).await
        {
            break stream;
        }
        assert!(tokio::time::Instant::now() < deadline, "no connection within {BOUND:?} of the restore");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let e = alice.presence().await;
    assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("bob"), Some(true)), "{e}");
    drop(bob);
}

/// The PostgreSQL URL with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (userinfo, hostpath) = rest.rsplit_once('@').map_or(("", rest), |(u, h)| (u, h));
    let path = hostpath.find('/').map_or("", |i| &hostpath[i..]);
    let at = if userinfo.is_empty() { String::new() } else { format!("{userinfo}@") };
    format!("{scheme}://{at}{addr}{path}")
}

fn target_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostpath = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostpath.split('/').next().unwrap();
    let hostport = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:5432") };
    hostport.parse().unwrap_or_else(|_| panic!("HERALD_TEST_DATABASE_URL's host must be an IP address: {hostport}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HERALD_TEST_DATABASE_URL (and HERALD_TEST_REDIS_URL, to run with the others)"]
async fn a_postgres_outage_answers_503_in_every_format_and_the_node_recovers_by_itself() {
    let url = std::env::var("HERALD_TEST_DATABASE_URL").expect("HERALD_TEST_DATABASE_URL");
    let proxy = Proxy::start(target_of(&url)).await;
    let schema = format!("herald_outage_{}", std::process::id());
    let s = Server::start_with(Options {
        database_url: Some(through(&url, proxy.addr)),
        database_schema: Some(schema.clone()),
        ..Options::default()
    })
    .await;
    s.register(&["alice", "bob"]).await;
    let mut alice = s.connect("alice", "web").await;
    let rc = crate::rongcloud::Rc::new(&s);
    let tencent = crate::tencent::Tencent::of(&s);

    proxy.cut();
    let (status, body) =
        timed("a subscribe", s.post("/v1/subscriptions", json!({"subscriber": "alice", "targets": ["bob"]}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("backend_unavailable")), "{body}");
    let (status, body) = timed(
        "a RongCloud call",
        rc.post("/user/subscribe/set.json", "userId=alice&subUserIds=bob&opType=0&expiry=3600&subType=1"),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (500, Some(26003)), "{body}");
    let answer: Value = timed(
        "a Tencent call",
        tencent.call("follow/follow_add", json!({"From_Account": "alice", "FollowItem": [{"To_Account": "bob"}]})),
    )
    .await;
    assert_eq!(
        (answer["ActionStatus"].as_str(), answer["ErrorCode"].as_i64()),
        (Some("FAIL"), Some(30006)),
        "{answer}"
    );
    timed("a ping", ping(&mut alice)).await;

    proxy.restore();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let (status, body) = s.post("/v1/subscriptions", json!({"subscriber": "alice", "targets": ["bob"]})).await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status} {body} {BOUND:?} after the restore");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(s);
    if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}
