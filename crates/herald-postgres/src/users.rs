use async_trait::async_trait;
use deadpool_postgres::Transaction;
use herald_core::store::{NewUser, RegisterMode, UserRecord, UserStore};
use herald_core::{AppId, Error, Millis, Result, UserId};

use crate::PostgresStore;
use crate::pool::{Fail, db, serializable, user_col};

#[async_trait]
impl UserStore for PostgresStore {
    async fn register_users(
        &self,
        app: &AppId,
        users: &[NewUser],
        now: Millis,
        mode: RegisterMode,
    ) -> Result<Vec<bool>> {
        // One transaction: an all-or-nothing registration that meets an existing ID rolls back what it inserted.
        serializable!(self, |tx| {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO users (app, user_id, nickname, face_url, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (app, user_id) DO NOTHING",
                )
                .await?;
            let mut created = Vec::with_capacity(users.len());
            for u in users {
                let new =
                    tx.execute(&stmt, &[&app.as_str(), &u.user_id.as_str(), &u.nickname, &u.face_url, &now]).await?
                        == 1;
                if !new && mode == RegisterMode::AllNew {
                    return Err(Fail::Domain(Error::AlreadyRegistered(u.user_id.clone())));
                }
                created.push(new);
            }
            Ok::<_, Fail>(created)
        })
    }

    async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT user_id, nickname, face_url, created_at, last_seen FROM users
                 WHERE app = $1 AND user_id = ANY($2)",
            )
            .await
            .map_err(db)?;
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let rows = client.query(&stmt, &[&app.as_str(), &ids]).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(UserRecord {
                    user_id: user_col(r, 0)?,
                    nickname: r.get(1),
                    face_url: r.get(2),
                    created_at: r.get(3),
                    last_seen: r.get(4),
                })
            })
            .collect()
    }

    async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        serializable!(self, |tx| {
            let mut existed = Vec::with_capacity(ids.len());
            for id in ids {
                existed.push(delete_user(&tx, app, id).await?);
            }
            Ok::<_, Fail>(existed)
        })
    }

    async fn record_last_seen(&self, app: &AppId, user: &UserId, at: Millis) -> Result<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("UPDATE users SET last_seen = $3 WHERE app = $1 AND user_id = $2")
            .await
            .map_err(db)?;
        client.execute(&stmt, &[&app.as_str(), &user.as_str(), &at]).await.map_err(db)?;
        Ok(())
    }
}

/// Delete one user and every relation it takes part in, keeping the other users' follow counters right.
async fn delete_user(tx: &Transaction<'_>, app: &AppId, id: &UserId) -> Result<bool, Fail> {
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&app.as_str(), &id.as_str()];
    let existed = tx.execute("DELETE FROM users WHERE app = $1 AND user_id = $2", &p).await? == 1;
    // Mutual partners lose one mutual; whoever the user followed loses a fan; whoever followed it loses a following.
    for sql in [
        "UPDATE follow_counts SET mutual = mutual - 1 WHERE app = $1 AND user_id IN (
             SELECT f.followee FROM follows f WHERE f.app = $1 AND f.follower = $2 AND EXISTS (
                 SELECT 1 FROM follows g WHERE g.app = $1 AND g.follower = f.followee AND g.followee = $2))",
        "UPDATE follow_counts SET fans = fans - 1 WHERE app = $1 AND user_id IN (
             SELECT followee FROM follows WHERE app = $1 AND follower = $2)",
        "UPDATE follow_counts SET following = following - 1 WHERE app = $1 AND user_id IN (
             SELECT follower FROM follows WHERE app = $1 AND followee = $2)",
        "DELETE FROM follows WHERE app = $1 AND follower = $2",
        "DELETE FROM follows WHERE app = $1 AND followee = $2",
        "DELETE FROM follow_counts WHERE app = $1 AND user_id = $2",
        "DELETE FROM subscriptions WHERE app = $1 AND subscriber = $2",
        "DELETE FROM subscriptions WHERE app = $1 AND target = $2",
        "DELETE FROM tokens WHERE app = $1 AND user_id = $2",
    ] {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &p).await?;
    }
    Ok(existed)
}
