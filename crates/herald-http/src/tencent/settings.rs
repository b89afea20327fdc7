//! The Tencent Cloud Chat settings of an app (`dialects.tencent`, or the older top-level `tencent` table with
//! `limits.tencent_requests_per_second` and `webhooks.tencent_callback_url`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use herald_core::{App, AppId};
use herald_service::AppDirectory;
use serde::Deserialize;

use crate::dialect::{ConfigError, LegacyKey, require_secret, unique};

/// Where the older configurations kept settings that now live in the dialect's section.
pub const LEGACY: [LegacyKey; 2] = [
    ("limits", "tencent_requests_per_second", "requests_per_second"),
    ("webhooks", "tencent_callback_url", "callback_url"),
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSettings {
    pub sdkappid: u64,
    /// Signs UserSigs.
    pub secret_key: String,
    /// The identifier REST calls must be made as.
    #[serde(default = "default_admin")]
    pub admin_identifier: String,
    /// Requests per second on the follow and online-status routes (0 = unlimited).
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// Where state-change and follow callbacks are POSTed.
    #[serde(default)]
    pub callback_url: Option<String>,
}

fn default_admin() -> String {
    "administrator".to_owned()
}

fn default_rate() -> u32 {
    200
}

/// An app that speaks Tencent Cloud Chat, with its settings.
pub struct TencentApp {
    pub app: Arc<App>,
    pub settings: TencentSettings,
}

/// The apps that speak Tencent Cloud Chat, by SDKAppID and by app ID.
#[derive(Default)]
pub struct TencentApps {
    by_sdkappid: HashMap<u64, Arc<TencentApp>>,
    by_id: HashMap<AppId, Arc<TencentApp>>,
}

impl TencentApps {
    pub fn read(apps: &AppDirectory) -> Result<Self, ConfigError> {
        let mut out = Self::default();
        let (mut ids, mut secrets) = (BTreeSet::new(), BTreeSet::new());
        for app in apps.all() {
            let Some(settings) = super::settings(app)? else { continue };
            // Anyone can read an SDKAppID; with an empty key anyone could sign an administrator's UserSig.
            require_secret(app, super::NAME, "secret_key", &settings.secret_key)?;
            require_secret(app, super::NAME, "admin_identifier", &settings.admin_identifier)?;
            unique(&mut ids, settings.sdkappid, app, "the Tencent sdkappid")?;
            unique(&mut secrets, settings.secret_key.clone(), app, "the Tencent secret_key")?;
            let entry = Arc::new(TencentApp { app: app.clone(), settings });
            out.by_sdkappid.insert(entry.settings.sdkappid, entry.clone());
            out.by_id.insert(app.app_id.clone(), entry);
        }
        Ok(out)
    }

    pub fn by_sdkappid(&self, sdkappid: u64) -> Option<&Arc<TencentApp>> {
        self.by_sdkappid.get(&sdkappid)
    }

    pub fn by_id(&self, id: &AppId) -> Option<&Arc<TencentApp>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<TencentApp>> {
        self.by_id.values()
    }
}
