//! The apps this node serves, by ID and by native API key. Each API dialect keeps its own index of the credentials
//! its requests present.

use std::collections::HashMap;
use std::sync::Arc;

use herald_core::{App, AppId, Error, Result};
use sha2::{Digest, Sha256};

/// Immutable after start-up: apps come from configuration (or, in cluster mode, the shared database).
#[derive(Default)]
pub struct AppDirectory {
    by_id: HashMap<AppId, Arc<App>>,
    /// Keyed by the SHA-256 of the API key, so the lookup does not compare secrets byte by byte.
    by_api_key: HashMap<[u8; 32], Arc<App>>,
}

impl AppDirectory {
    /// Index the apps. Two apps with one ID or one API key would make requests land in the wrong tenant, so either
    /// is refused, naming both.
    pub fn new(apps: impl IntoIterator<Item = App>) -> Result<Self> {
        let mut dir = Self::default();
        for app in apps {
            let app = Arc::new(app);
            if dir.by_id.contains_key(&app.app_id) {
                return Err(Error::invalid("app_id", format!("app {} is configured twice", app.app_id)));
            }
            if let Some(other) = dir.by_api_key.insert(digest(&app.api_key), app.clone()) {
                let why = format!("apps {} and {} have the same API key", other.app_id, app.app_id);
                return Err(Error::invalid("api_key", why));
            }
            dir.by_id.insert(app.app_id.clone(), app);
        }
        Ok(dir)
    }

    pub fn get(&self, id: &AppId) -> Option<&Arc<App>> {
        self.by_id.get(id)
    }

    pub fn by_api_key(&self, key: &str) -> Option<&Arc<App>> {
        self.by_api_key.get(&digest(key))
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<App>> {
        self.by_id.values()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}
