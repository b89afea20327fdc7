//! Schema migrations, applied in order under an advisory lock and recorded in `herald_migrations`.

use deadpool_postgres::Object;
use herald_core::Result;

use crate::pool::db;

/// Serializes migrations of every Herald node on the database (the key is arbitrary but fixed: "herald" in ASCII).
const MIGRATION_LOCK: i64 = 0x6865_7261_6c64;

/// Text columns use the "C" collation: byte order, like the embedded store, and the cheapest comparisons.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE apps (
    app_id TEXT COLLATE "C" PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE users (
    app TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    nickname TEXT,
    face_url TEXT,
    created_at BIGINT NOT NULL,
    last_seen BIGINT,
    PRIMARY KEY (app, user_id)
);

CREATE TABLE subscriptions (
    app TEXT COLLATE "C" NOT NULL,
    subscriber TEXT COLLATE "C" NOT NULL,
    kind BIGINT NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    subscribed_at BIGINT NOT NULL,
    expiry_secs BIGINT,
    expires_at BIGINT,
    PRIMARY KEY (app, subscriber, kind, target)
);
-- Both list orders are covering, so paging and counting are index-only scans.
CREATE INDEX subscriptions_by_time ON subscriptions (app, subscriber, kind, subscribed_at, target)
    INCLUDE (expires_at, expiry_secs);
CREATE INDEX subscriptions_by_target ON subscriptions (app, target, kind, subscribed_at, subscriber)
    INCLUDE (expires_at, expiry_secs);
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE follows (
    app TEXT COLLATE "C" NOT NULL,
    follower TEXT COLLATE "C" NOT NULL,
    followee TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app, follower, followee)
);
CREATE INDEX follows_following ON follows (app, follower, created_at, followee);
CREATE INDEX follows_fans ON follows (app, followee, created_at, follower);

-- Counters kept in the same transaction as the edges, so counts are one row read.
CREATE TABLE follow_counts (
    app TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    fans BIGINT NOT NULL DEFAULT 0,
    following BIGINT NOT NULL DEFAULT 0,
    mutual BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app, user_id)
);

CREATE TABLE tokens (
    app TEXT COLLATE "C" NOT NULL,
    token_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    platform BIGINT,
    expires_at BIGINT NOT NULL,
    kicked BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (app, token_id)
);
CREATE INDEX tokens_by_user ON tokens (app, user_id, platform);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
"#];

pub(crate) async fn migrate(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS herald_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .await
        .map_err(db)?;
    let row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM herald_migrations", &[]).await.map_err(db)?;
    let done: i64 = row.get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute("INSERT INTO herald_migrations (version) VALUES ($1)", &[&(i as i64 + 1)]).await.map_err(db)?;
        tracing::info!(version = i + 1, "applied a database migration");
    }
    tx.commit().await.map_err(db)
}
