//! The apps this node serves, indexed by each credential a request can present.

use std::collections::HashMap;
use std::sync::Arc;

use herald_core::{App, AppId};
use sha2::{Digest, Sha256};

/// Immutable after start-up: apps come from configuration (or, in cluster mode, the shared database).
#[derive(Default)]
pub struct AppDirectory {
    by_id: HashMap<AppId, Arc<App>>,
    /// Keyed by the SHA-256 of the API key, so the lookup does not compare secrets byte by byte.
    by_api_key: HashMap<[u8; 32], Arc<App>>,
    by_rongcloud_key: HashMap<String, Arc<App>>,
    by_tencent_sdkappid: HashMap<u64, Arc<App>>,
}

impl AppDirectory {
    pub fn new(apps: impl IntoIterator<Item = App>) -> Self {
        let mut dir = Self::default();
        for app in apps {
            let app = Arc::new(app);
            dir.by_api_key.insert(digest(&app.api_key), app.clone());
            if let Some(rc) = &app.rongcloud {
                dir.by_rongcloud_key.insert(rc.app_key.clone(), app.clone());
            }
            if let Some(tc) = &app.tencent {
                dir.by_tencent_sdkappid.insert(tc.sdkappid, app.clone());
            }
            dir.by_id.insert(app.app_id.clone(), app);
        }
        dir
    }

    pub fn get(&self, id: &AppId) -> Option<&Arc<App>> {
        self.by_id.get(id)
    }

    pub fn by_api_key(&self, key: &str) -> Option<&Arc<App>> {
        self.by_api_key.get(&digest(key))
    }

    pub fn by_rongcloud_key(&self, key: &str) -> Option<&Arc<App>> {
        self.by_rongcloud_key.get(key)
    }

    pub fn by_tencent_sdkappid(&self, sdkappid: u64) -> Option<&Arc<App>> {
        self.by_tencent_sdkappid.get(&sdkappid)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<App>> {
        self.by_id.values()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}
