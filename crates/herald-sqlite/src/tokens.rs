use async_trait::async_trait;
use herald_core::store::{TokenRecord, TokenStore};
use herald_core::{AppId, Millis, Platform, Result, UserId};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::users::user_col;

#[async_trait]
impl TokenStore for SqliteStore {
    async fn record_token(&self, app: &AppId, token: &TokenRecord) -> Result<()> {
        let (app, t) = (app.clone(), token.clone());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO tokens (app, token_id, user_id, platform, expires_at, kicked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                app.as_str(),
                t.token_id,
                t.user_id.as_str(),
                t.platform.map(|p| p.id()),
                t.expires_at,
                t.kicked
            ])?;
            Ok(())
        })
        .await
    }

    async fn token(&self, app: &AppId, token_id: &str) -> Result<Option<TokenRecord>> {
        let (app, token_id) = (app.clone(), token_id.to_owned());
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT token_id, user_id, platform, expires_at, kicked FROM tokens WHERE app = ?1 AND token_id = ?2",
                )?
                .query_row(params![app.as_str(), token_id], |r| {
                    let platform: Option<i64> = r.get(2)?;
                    Ok(TokenRecord {
                        token_id: r.get(0)?,
                        user_id: user_col(r, 1)?,
                        platform: platform.and_then(|p| Platform::from_id(p).ok()),
                        expires_at: r.get(3)?,
                        kicked: r.get(4)?,
                    })
                })
                .optional()?;
            Ok(row)
        })
        .await
    }

    async fn kick_tokens(&self, app: &AppId, user: &UserId, platform: Option<Platform>) -> Result<u64> {
        let (app, user) = (app.clone(), user.clone());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE tokens SET kicked = 1
                     WHERE app = ?1 AND user_id = ?2 AND (?3 IS NULL OR platform = ?3) AND kicked = 0",
                )?
                .execute(params![app.as_str(), user.as_str(), platform.map(|p| p.id())])?;
            Ok(n as u64)
        })
        .await
    }

    async fn purge_expired_tokens(&self, now: Millis, max: usize) -> Result<u64> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM tokens WHERE (app, token_id) IN (
                         SELECT app, token_id FROM tokens WHERE expires_at <= ?1 LIMIT ?2)",
                )?
                .execute(params![now, max as i64])?;
            Ok(n as u64)
        })
        .await
    }
}
