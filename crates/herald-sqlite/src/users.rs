use async_trait::async_trait;
use herald_core::store::{NewUser, RegisterMode, UserRecord, UserStore};
use herald_core::{AppId, Error, Millis, Result, UserId};
use std::rc::Rc;

use rusqlite::types::Value;
use rusqlite::{Connection, Row, params};

use crate::SqliteStore;
use crate::conn::JobResult;

/// Read a user ID column, treating a malformed stored ID as a conversion failure rather than a panic.
pub(crate) fn user_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<UserId> {
    let raw: String = row.get(idx)?;
    UserId::parse(raw)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn register_users(
        &self,
        app: &AppId,
        users: &[NewUser],
        now: Millis,
        mode: RegisterMode,
    ) -> Result<Vec<bool>> {
        let (app, users) = (app.clone(), users.to_vec());
        // The job runs in its own savepoint, so failing it part-way creates nobody.
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT OR IGNORE INTO users (app, user_id, nickname, face_url, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut created = Vec::with_capacity(users.len());
            for u in &users {
                let new = stmt.execute(params![app.as_str(), u.user_id.as_str(), u.nickname, u.face_url, now])? == 1;
                if !new && mode == RegisterMode::AllNew {
                    return Err(Error::AlreadyRegistered(u.user_id.clone()).into());
                }
                created.push(new);
            }
            Ok(created)
        })
        .await
    }

    async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        let app = app.clone();
        let ids: Vec<Value> = ids.iter().map(|id| Value::from(id.as_str().to_owned())).collect();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT user_id, nickname, face_url, created_at, last_seen FROM users
                 WHERE app = ?1 AND user_id IN rarray(?2)",
            )?;
            let rows = stmt
                .query_map(params![app.as_str(), Rc::new(ids)], |r| {
                    Ok(UserRecord {
                        user_id: user_col(r, 0)?,
                        nickname: r.get(1)?,
                        face_url: r.get(2)?,
                        created_at: r.get(3)?,
                        last_seen: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        let (app, ids) = (app.clone(), ids.to_vec());
        self.write(move |c| ids.iter().map(|id| delete_user(c, &app, id)).collect()).await
    }

    async fn record_last_seen(&self, app: &AppId, user: &UserId, at: Millis) -> Result<()> {
        let (app, user) = (app.clone(), user.clone());
        self.write(move |c| {
            c.prepare_cached("UPDATE users SET last_seen = ?3 WHERE app = ?1 AND user_id = ?2")?.execute(params![
                app.as_str(),
                user.as_str(),
                at
            ])?;
            Ok(())
        })
        .await
    }
}

/// Delete one user and every relation it takes part in, keeping the other users' follow counters right.
fn delete_user(c: &Connection, app: &AppId, id: &UserId) -> JobResult<bool> {
    let p = params![app.as_str(), id.as_str()];
    let existed = c.prepare_cached("DELETE FROM users WHERE app = ?1 AND user_id = ?2")?.execute(p)? == 1;
    // Mutual partners lose one mutual; whoever the user followed loses a fan; whoever followed it loses a following.
    c.prepare_cached(
        "UPDATE follow_counts SET mutual = mutual - 1 WHERE app = ?1 AND user_id IN (
             SELECT f.followee FROM follows f WHERE f.app = ?1 AND f.follower = ?2 AND EXISTS (
                 SELECT 1 FROM follows g WHERE g.app = ?1 AND g.follower = f.followee AND g.followee = ?2))",
    )?
    .execute(p)?;
    c.prepare_cached(
        "UPDATE follow_counts SET fans = fans - 1 WHERE app = ?1 AND user_id IN (
             SELECT followee FROM follows WHERE app = ?1 AND follower = ?2)",
    )?
    .execute(p)?;
    c.prepare_cached(
        "UPDATE follow_counts SET following = following - 1 WHERE app = ?1 AND user_id IN (
             SELECT follower FROM follows WHERE app = ?1 AND followee = ?2)",
    )?
    .execute(p)?;
    for sql in [
        "DELETE FROM follows WHERE app = ?1 AND follower = ?2",
        "DELETE FROM follows WHERE app = ?1 AND followee = ?2",
        "DELETE FROM follow_counts WHERE app = ?1 AND user_id = ?2",
        "DELETE FROM subscriptions WHERE app = ?1 AND subscriber = ?2",
        "DELETE FROM subscriptions WHERE app = ?1 AND target = ?2",
        "DELETE FROM tokens WHERE app = ?1 AND user_id = ?2",
    ] {
        c.prepare_cached(sql)?.execute(p)?;
    }
    Ok(existed)
}
