use async_trait::async_trait;
use herald_core::store::AppStore;
use herald_core::{App, Error, Result};

use crate::PostgresStore;
use crate::pool::db;

fn decode(body: &str) -> Result<App> {
    serde_json::from_str(body).map_err(|e| Error::unavailable(format!("stored app is unreadable: {e}")))
}

#[async_trait]
impl AppStore for PostgresStore {
    async fn load_apps(&self) -> Result<Vec<App>> {
        let client = self.client().await?;
        let rows = client.query("SELECT body FROM apps ORDER BY app_id", &[]).await.map_err(db)?;
        rows.iter().map(|r| decode(r.get(0))).collect()
    }

    async fn insert_app_if_absent(&self, app: &App) -> Result<App> {
        let body = serde_json::to_string(app).map_err(|e| Error::unavailable(e.to_string()))?;
        let client = self.client().await?;
        // ON CONFLICT DO NOTHING makes racing nodes agree: exactly one insert wins and everyone reads it back.
        client
            .execute(
                "INSERT INTO apps (app_id, body) VALUES ($1, $2) ON CONFLICT (app_id) DO NOTHING",
                &[&app.app_id.as_str(), &body],
            )
            .await
            .map_err(db)?;
        let row =
            client.query_one("SELECT body FROM apps WHERE app_id = $1", &[&app.app_id.as_str()]).await.map_err(db)?;
        decode(row.get(0))
    }
}
