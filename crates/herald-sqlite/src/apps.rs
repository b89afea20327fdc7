use async_trait::async_trait;
use herald_core::store::AppStore;
use herald_core::{App, Error, Result};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;

fn decode(body: &str) -> Result<App> {
    serde_json::from_str(body).map_err(|e| Error::unavailable(format!("stored app is unreadable: {e}")))
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn load_apps(&self) -> Result<Vec<App>> {
        let bodies: Vec<String> = self
            .read(|c| {
                let mut stmt = c.prepare("SELECT body FROM apps ORDER BY app_id")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await?;
        bodies.iter().map(|b| decode(b)).collect()
    }

    async fn insert_app_if_absent(&self, app: &App) -> Result<App> {
        let body = serde_json::to_string(app).map_err(|e| Error::unavailable(e.to_string()))?;
        let id = app.app_id.clone();
        let stored: String = self
            .write(move |c| {
                c.execute("INSERT OR IGNORE INTO apps (app_id, body) VALUES (?1, ?2)", params![id.as_str(), body])?;
                let stored =
                    c.query_row("SELECT body FROM apps WHERE app_id = ?1", [id.as_str()], |r| r.get(0)).optional()?;
                Ok(stored.unwrap_or_default())
            })
            .await?;
        decode(&stored)
    }
}
