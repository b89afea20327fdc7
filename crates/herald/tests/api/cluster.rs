//! Cluster mode end to end: three real nodes on loopback ports sharing one PostgreSQL schema and one Redis key
//! prefix behave as one server. The tests are ignored unless asked for; with `--include-ignored` they need
//! HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL, and fail when either is missing or does not answer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::{Options, Server, Ws};
use serde_json::{Value, json};

/// Short, so a killed node is noticed quickly; still several heartbeats long.
const NODE_TTL_SECS: f64 = 1.5;
/// Longer than a node TTL plus a few sweeps: what has not arrived by then is not coming.
const QUIET: Duration = Duration::from_secs(3);

/// Nodes and what they share; [`Cluster::cleanup`] stops the nodes and removes the shared schema and keys.
pub(crate) struct Cluster {
    pub nodes: Vec<Server>,
    database_url: String,
    schema: String,
    redis_url: String,
    prefix: String,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(3, Options { node_ttl_secs: Some(NODE_TTL_SECS), ..Options::default() }).await
    }

    /// `count` nodes started with `options` (its cluster settings are filled in).
    pub(crate) async fn start_with(count: usize, options: Options) -> Self {
        let (database_url, redis_url) = backends().await;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let (schema, prefix) = (format!("herald_cluster_{tag}"), format!("herald-cluster-{tag}"));
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(
                Server::start_with(Options {
                    database_url: Some(database_url.clone()),
                    database_schema: Some(schema.clone()),
                    redis_url: Some(redis_url.clone()),
                    redis_prefix: Some(prefix.clone()),
                    // Info level, as an operator runs it: what a node logs there is checked below.
                    env: vec![("HERALD_LOG".into(), "info".into())],
                    ..options.clone()
                })
                .await,
            );
        }
        Self { nodes, database_url, schema, redis_url, prefix }
    }

    pub(crate) async fn cleanup(mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if let Ok((client, conn)) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)).await;
        }
        if let Ok(client) = redis::Client::open(self.redis_url.as_str())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query_async(&mut conn).await.unwrap_or_default();
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap_or(());
            }
        }
    }
}

/// The URLs of the shared PostgreSQL and Redis, checked to answer, so that a missing or stopped service fails the
/// test with a message that names it rather than with a node that never starts.
async fn backends() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: the cluster tests need HERALD_TEST_DATABASE_URL (a PostgreSQL URL that names the \
                 database, e.g. postgres://postgres@127.0.0.1:5432/test) and HERALD_TEST_REDIS_URL \
                 (e.g. redis://127.0.0.1:6379)"
            )
        })
    };
    let (database_url, redis_url) = (var("HERALD_TEST_DATABASE_URL"), var("HERALD_TEST_REDIS_URL"));
    match tokio_postgres::connect(&database_url, tokio_postgres::NoTls).await {
        Ok((_client, conn)) => drop(tokio::spawn(conn)),
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
            panic!("the PostgreSQL database at HERALD_TEST_DATABASE_URL={database_url} does not answer: {e}{cause}")
        }
    }
    let pong: redis::RedisResult<String> = async {
        let mut conn = redis::Client::open(redis_url.as_str())?.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async(&mut conn).await
    }
    .await;
    if let Err(e) = pong {
        panic!("the Redis server at HERALD_TEST_REDIS_URL={redis_url} does not answer: {e}");
    }
    (database_url, redis_url)
}

/// The next presence event of `user`, failing on any other frame.
async fn presence_of(ws: &mut Ws, user: &str) -> Value {
    let e = ws.presence().await;
    assert_eq!(e["user_id"], user, "{e}");
    e
}

async fn assert_quiet(ws: &mut Ws) {
    if let Some(extra) = ws.recv_within(QUIET).await {
        panic!("expected no more frames, got {extra}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn nodes_share_apps_presence_subscriptions_and_follows() {
    let cluster = Cluster::start().await;
    let [n1, n2, n3] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    // The first node created the default app; every node shows the same credentials.
    assert!(n1.credentials["api_key"].is_string());
    assert_eq!(n1.credentials, n2.credentials);
    assert_eq!(n1.credentials, n3.credentials);
    // Only the node that created the default app says so; the others found it in the database.
    let announced: Vec<bool> = cluster.nodes.iter().map(|n| n.stdout.contains("Created app 'default'")).collect();
    assert_eq!(announced, vec![true, false, false]);
    // The database's notices (the schema and tables exist already) are debug detail, not info.
    for node in &cluster.nodes {
        assert!(!node.stderr.contains("NOTICE"), "{:#?}", node.stderr.lines());
    }

    n1.register(&["alice", "bob", "carol", "dave"]).await;
    let mut alice = n1.connect("alice", "web").await;
    let reply = alice.subscribe(&["bob"]).await;
    assert_eq!(reply["presences"][0]["online"], false);

    // A token minted on one node opens a socket on another; the change reaches the subscriber on node 1.
    let bob_token = n1.token("bob").await;
    let _bob_web = n2.connect_with_token(&bob_token, "web").await;
    let e = presence_of(&mut alice, "bob").await;
    assert_eq!((e["online"].as_bool(), e["platforms"].clone()), (Some(true), json!(["web"])));
    let _bob_ios = n3.connect("bob", "ios").await;
    let e = presence_of(&mut alice, "bob").await;
    assert_eq!(e["platforms"], json!(["ios", "web"]));

    // A subscription made through node 3's API takes effect on node 1's socket.
    let (status, body) = n3.post("/v1/subscriptions", json!({"subscriber": "alice", "targets": ["carol"]})).await;
    assert_eq!(status, 200, "{body}");
    let _carol = n2.connect("carol", "android").await;
    let e = presence_of(&mut alice, "carol").await;
    assert_eq!((e["online"].as_bool(), e["platforms"].clone()), (Some(true), json!(["android"])));
    assert_quiet(&mut alice).await;

    // Presence queries, follow and subscription pages read the same from every node.
    for (follower, followees) in [("alice", vec!["bob", "carol"]), ("bob", vec!["alice"]), ("dave", vec!["alice"])] {
        let (status, body) = n1.post("/v1/follows", json!({"follower": follower, "followees": followees})).await;
        assert_eq!(status, 200, "{body}");
    }
    let paths = [
        "/v1/users/alice/fans?limit=10",
        "/v1/users/alice/following?limit=1",
        "/v1/users/alice/mutual?limit=10",
        "/v1/users/alice/subscriptions?limit=10",
        "/v1/users/carol/subscribers?limit=10",
    ];
    for path in paths {
        let (status, first) = n1.get(path).await;
        assert_eq!(status, 200, "{path}: {first}");
        for other in [n2, n3] {
            assert_eq!(other.get(path).await.1, first, "{path} reads the same from every node");
        }
    }
    let (_, fans) = n2.get("/v1/users/alice/fans?limit=10").await;
    assert_eq!(fans.to_string().matches("user_id").count(), 2, "{fans}");
    let query = json!({"user_ids": ["bob", "carol", "dave"]});
    let (_, seen_by_1) = n1.post("/v1/presence/query", query.clone()).await;
    assert_eq!(n3.post("/v1/presence/query", query).await.1, seen_by_1);

    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn killed_node_users_go_offline_once() {
    let mut cluster = Cluster::start().await;
    {
        let [n1, n2, n3] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
        n1.register(&["alice", "bob", "carol"]).await;
        let mut alice = n1.connect("alice", "web").await;
        alice.subscribe(&["bob", "carol"]).await;
        let _bob = n2.connect("bob", "ios").await;
        assert_eq!(presence_of(&mut alice, "bob").await["online"], true);
        let _carol_ios = n2.connect("carol", "ios").await;
        presence_of(&mut alice, "carol").await;
        let _carol_web = n3.connect("carol", "web").await;
        assert_eq!(presence_of(&mut alice, "carol").await["platforms"], json!(["ios", "web"]));

        cluster.nodes[1].kill();
        // Within 4/3 of the TTL (plus generous slack for a loaded machine) the survivors notice, once.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let e = alice.recv_within(Duration::from_secs(15)).await.expect("offline events after the node died");
            assert_eq!(e["type"], "presence", "{e}");
            seen.push(e);
        }
        seen.sort_by_key(|e| e["user_id"].as_str().unwrap_or_default().to_owned());
        assert_eq!((seen[0]["user_id"].as_str(), seen[0]["online"].as_bool()), (Some("bob"), Some(false)));
        assert_eq!(seen[0]["platforms"], json!([]));
        assert_eq!((seen[1]["user_id"].as_str(), seen[1]["platforms"].clone()), (Some("carol"), json!(["web"])));
        assert_quiet(&mut alice).await;

        let (_, body) = cluster.nodes[2].post("/v1/presence/query", json!({"user_ids": ["bob"]})).await;
        assert!(body.to_string().contains("\"online\":false"), "{body}");
    }
    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn socket_hears_exactly_the_stored_subscriptions_after_racing_calls_through_every_node() {
    let cluster = Cluster::start().await;
    let nodes: Vec<&Server> = cluster.nodes.iter().collect();
    crate::interest::run_trials(&nodes, 40).await;
    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn a_target_deleted_through_one_node_no_longer_reaches_subscribers_on_another() {
    let cluster = Cluster::start().await;
    let nodes: Vec<&Server> = cluster.nodes.iter().collect();
    crate::interest::deleted_target_no_longer_reaches_its_subscribers(&nodes).await;
    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn a_target_changing_right_after_a_subscribe_through_another_node_reaches_the_socket() {
    let cluster = Cluster::start().await;
    let nodes: Vec<&Server> = cluster.nodes.iter().collect();
    crate::interest::target_changing_after_a_remote_subscribe_reaches_the_socket(&nodes, 30).await;
    cluster.cleanup().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL"]
async fn a_paused_node_that_was_taken_over_sends_its_clients_back_and_is_reaped_again_when_it_dies() {
    let mut cluster = Cluster::start().await;
    {
        let [n1, n2] = [&cluster.nodes[0], &cluster.nodes[1]];
        n1.register(&["alice", "bob"]).await;
        let mut alice = n1.connect("alice", "web").await;
        alice.subscribe(&["bob"]).await;
        let mut bob = n2.connect("bob", "ios").await;
        assert_eq!(presence_of(&mut alice, "bob").await["online"], true);

        // Paused past its TTL, the node is taken over: bob goes offline for everyone.
        n2.signal("STOP");
        let e = alice.recv_within(Duration::from_secs(15)).await.expect("bob offline after the takeover");
        assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("bob"), Some(false)), "{e}");
        // Resumed, it learns so and closes bob's socket with "reconnect"; bob comes back online.
        n2.signal("CONT");
        assert_eq!(bob.closed().await, Some(1012), "the client is told to reconnect");
        let _bob = n2.connect("bob", "ios").await;
        let e = alice.recv_within(Duration::from_secs(10)).await.expect("bob online again");
        assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("bob"), Some(true)), "{e}");
        let (_, body) = n2.post("/v1/presence/query", json!({"user_ids": ["bob"]})).await;
        assert_eq!(body["results"][0]["presence"]["online"], true, "{body}");

        // Taken over once, it dies: it is reaped again within the TTL, not after a lock from the first time.
        cluster.nodes[1].kill();
        let e = alice.recv_within(Duration::from_secs(10)).await.expect("bob offline again within the TTL");
        assert_eq!((e["user_id"].as_str(), e["online"].as_bool()), (Some("bob"), Some(false)), "{e}");
        assert_quiet(&mut alice).await;
    }
    cluster.cleanup().await;
}
