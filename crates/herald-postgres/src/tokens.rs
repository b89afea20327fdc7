use async_trait::async_trait;
use herald_core::store::{TokenRecord, TokenStore};
use herald_core::{AppId, Millis, Platform, Result, UserId};

use crate::PostgresStore;
use crate::pool::{db, user_col};

#[async_trait]
impl TokenStore for PostgresStore {
    async fn record_token(&self, app: &AppId, t: &TokenRecord) -> Result<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO tokens (app, token_id, user_id, platform, expires_at, kicked) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (app, token_id) DO UPDATE SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform,
                     expires_at = EXCLUDED.expires_at, kicked = EXCLUDED.kicked",
            )
            .await
            .map_err(db)?;
        let platform = t.platform.map(|p| i64::from(p.id()));
        client
            .execute(&stmt, &[&app.as_str(), &t.token_id, &t.user_id.as_str(), &platform, &t.expires_at, &t.kicked])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn token(&self, app: &AppId, token_id: &str) -> Result<Option<TokenRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT token_id, user_id, platform, expires_at, kicked FROM tokens WHERE app = $1 AND token_id = $2",
            )
            .await
            .map_err(db)?;
        let Some(row) = client.query_opt(&stmt, &[&app.as_str(), &token_id]).await.map_err(db)? else {
            return Ok(None);
        };
        let platform: Option<i64> = row.get(2);
        Ok(Some(TokenRecord {
            token_id: row.get(0),
            user_id: user_col(&row, 1)?,
            platform: platform.and_then(|p| Platform::from_id(p).ok()),
            expires_at: row.get(3),
            kicked: row.get(4),
        }))
    }

    async fn kick_tokens(&self, app: &AppId, user: &UserId, platform: Option<Platform>) -> Result<u64> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE tokens SET kicked = TRUE
                 WHERE app = $1 AND user_id = $2 AND ($3::BIGINT IS NULL OR platform = $3) AND NOT kicked",
            )
            .await
            .map_err(db)?;
        let platform = platform.map(|p| i64::from(p.id()));
        client.execute(&stmt, &[&app.as_str(), &user.as_str(), &platform]).await.map_err(db)
    }

    async fn purge_expired_tokens(&self, now: Millis, max: usize) -> Result<u64> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM tokens WHERE (app, token_id) IN (
                     SELECT app, token_id FROM tokens WHERE expires_at <= $1 LIMIT $2)",
            )
            .await
            .map_err(db)?;
        client.execute(&stmt, &[&now, &(max as i64)]).await.map_err(db)
    }
}
