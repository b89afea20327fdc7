//! The RongCloud settings of an app (`dialects.rongcloud`, or the older top-level `rongcloud` table with
//! `limits.rongcloud_requests_per_second`, `limits.rongcloud_signature_skew_secs` and
//! `webhooks.rongcloud_status_url`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use herald_core::{App, AppId};
use herald_service::AppDirectory;
use serde::Deserialize;

use crate::dialect::{ConfigError, LegacyKey, require_secret, settings_of, unique};

/// Where the older configurations kept settings that now live in the dialect's section.
pub const LEGACY: [LegacyKey; 3] = [
    ("limits", "rongcloud_requests_per_second", "requests_per_second"),
    ("limits", "rongcloud_signature_skew_secs", "signature_skew_secs"),
    ("webhooks", "rongcloud_status_url", "status_url"),
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RongCloudSettings {
    /// Names the app in every request (`App-Key`).
    pub app_key: String,
    /// Signs requests and webhook calls, and the app's client tokens.
    pub app_secret: String,
    /// Requests per second on these routes (0 = unlimited).
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// How far ahead of the server's clock a request's `Timestamp` may be, in seconds; with
    /// `reject_old_signatures`, how far behind it too.
    #[serde(default = "default_skew")]
    pub signature_skew_secs: u32,
    /// Refuse signatures older than `signature_skew_secs`. Off by default: RongCloud documents no validity window,
    /// and its official Node SDK signs once when it loads and reuses that signature for the life of the process.
    #[serde(default)]
    pub reject_old_signatures: bool,
    /// Where online-status changes are POSTed.
    #[serde(default)]
    pub status_url: Option<String>,
}

fn default_rate() -> u32 {
    100
}

fn default_skew() -> u32 {
    600
}

/// An app that speaks RongCloud, with its settings.
pub struct RongCloudApp {
    pub app: Arc<App>,
    pub settings: RongCloudSettings,
}

/// The apps that speak RongCloud, by `App-Key` and by app ID.
#[derive(Default)]
pub struct RongCloudApps {
    by_key: HashMap<String, Arc<RongCloudApp>>,
    by_id: HashMap<AppId, Arc<RongCloudApp>>,
}

impl RongCloudApps {
    pub fn read(apps: &AppDirectory) -> Result<Self, ConfigError> {
        let mut out = Self::default();
        let (mut keys, mut secrets) = (BTreeSet::new(), BTreeSet::new());
        for app in apps.all() {
            let Some(settings) = settings_of::<RongCloudSettings>(app, super::NAME, &LEGACY)? else { continue };
            require_secret(app, super::NAME, "app_key", &settings.app_key)?;
            require_secret(app, super::NAME, "app_secret", &settings.app_secret)?;
            unique(&mut secrets, settings.app_secret.clone(), app, "the RongCloud app_secret")?;
            unique(&mut keys, settings.app_key.clone(), app, "the RongCloud app_key")?;
            let entry = Arc::new(RongCloudApp { app: app.clone(), settings });
            out.by_key.insert(entry.settings.app_key.clone(), entry.clone());
            out.by_id.insert(app.app_id.clone(), entry);
        }
        Ok(out)
    }

    pub fn by_key(&self, key: &str) -> Option<&Arc<RongCloudApp>> {
        self.by_key.get(key)
    }

    pub fn by_id(&self, id: &AppId) -> Option<&Arc<RongCloudApp>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<RongCloudApp>> {
        self.by_id.values()
    }
}
