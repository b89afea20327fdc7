//! Cluster mode end to end: three real nodes on loopback ports sharing one PostgreSQL schema and one Redis key
//! prefix behave as one server. Needs HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL; skipped without them.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Options, Server, Ws};

/// Short, so a killed node is noticed quickly; still several heartbeats long.
const NODE_TTL_SECS: f64 = 1.5;
/// Longer than a node TTL plus a few sweeps: what has not arrived by then is not coming.
const QUIET: Duration = Duration::from_secs(3);

/// Three nodes and what they share; dropping it stops the nodes and removes the shared schema and keys.
struct Cluster {
    nodes: Vec<Server>,
    database_url: String,
    schema: String,
    redis_url: String,
    prefix: String,
}

impl Cluster {
    async fn start(test: &str) -> Option<Self> {
        let (Ok(database_url), Ok(redis_url)) =
            (std::env::var("HERALD_TEST_DATABASE_URL"), std::env::var("HERALD_TEST_REDIS_URL"))
        else {
            eprintln!("skipped {test}: set HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL to run the cluster tests");
            return None;
        };
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let (schema, prefix) = (format!("herald_cluster_{tag}"), format!("herald-cluster-{tag}"));
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                Server::start_with(Options {
                    database_url: Some(database_url.clone()),
                    database_schema: Some(schema.clone()),
                    redis_url: Some(redis_url.clone()),
                    redis_prefix: Some(prefix.clone()),
                    node_ttl_secs: Some(NODE_TTL_SECS),
                    ..Options::default()
                })
                .await,
            );
        }
        Some(Self { nodes, database_url, schema, redis_url, prefix })
    }

    async fn cleanup(mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if let Ok((client, conn)) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)).await;
        }
        if let Ok(client) = redis::Client::open(self.redis_url.as_str()) {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let keys: Vec<String> =
                    redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query_async(&mut conn).await.unwrap_or_default();
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap_or(());
                }
            }
        }
    }
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
async fn nodes_share_apps_presence_subscriptions_and_follows() {
    let Some(cluster) = Cluster::start("nodes_share_apps_presence_subscriptions_and_follows").await else { return };
    let [n1, n2, n3] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    // The first node created the default app; every node shows the same credentials.
    assert!(n1.credentials["api_key"].is_string());
    assert_eq!(n1.credentials, n2.credentials);
    assert_eq!(n1.credentials, n3.credentials);

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
async fn killed_node_users_go_offline_once_within_the_ttl() {
    let Some(mut cluster) = Cluster::start("killed_node_users_go_offline_once_within_the_ttl").await else { return };
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
        // Within the TTL (plus generous slack for a loaded machine) the survivors notice, once.
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
