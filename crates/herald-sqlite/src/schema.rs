//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE apps (
    app_id TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    app TEXT NOT NULL,
    user_id TEXT NOT NULL,
    nickname TEXT,
    face_url TEXT,
    created_at INTEGER NOT NULL,
    last_seen INTEGER,
    PRIMARY KEY (app, user_id)
) WITHOUT ROWID;

CREATE TABLE subscriptions (
    app TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    kind INTEGER NOT NULL,
    target TEXT NOT NULL,
    subscribed_at INTEGER NOT NULL,
    expiry_secs INTEGER,
    expires_at INTEGER,
    PRIMARY KEY (app, subscriber, kind, target)
) WITHOUT ROWID;
-- Both list orders are covering, so paging and counting never touch the table.
CREATE INDEX subscriptions_by_time ON subscriptions (app, subscriber, kind, subscribed_at, target, expires_at, expiry_secs);
CREATE INDEX subscriptions_by_target ON subscriptions (app, target, kind, subscribed_at, subscriber, expires_at, expiry_secs);
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE follows (
    app TEXT NOT NULL,
    follower TEXT NOT NULL,
    followee TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app, follower, followee)
) WITHOUT ROWID;
CREATE INDEX follows_following ON follows (app, follower, created_at, followee);
CREATE INDEX follows_fans ON follows (app, followee, created_at, follower);

-- Counters kept in the same transaction as the edges, so counts are one row read.
CREATE TABLE follow_counts (
    app TEXT NOT NULL,
    user_id TEXT NOT NULL,
    fans INTEGER NOT NULL DEFAULT 0,
    following INTEGER NOT NULL DEFAULT 0,
    mutual INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app, user_id)
) WITHOUT ROWID;

CREATE TABLE tokens (
    app TEXT NOT NULL,
    token_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    platform INTEGER,
    expires_at INTEGER NOT NULL,
    kicked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app, token_id)
) WITHOUT ROWID;
CREATE INDEX tokens_by_user ON tokens (app, user_id, platform);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
"#];

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()
}
