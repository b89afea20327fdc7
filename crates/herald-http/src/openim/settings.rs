//! The OpenIM settings of an app (`dialects.openim`, or the older top-level `openim` table): the secret that signs
//! its tokens and the user IDs of its administrators.

use std::collections::BTreeSet;
use std::sync::Arc;

use herald_core::App;
use herald_service::AppDirectory;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::dialect::{ConfigError, require_secret, settings_of, unique};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenImSettings {
    /// Signs the app's tokens; `get_admin_token` presents it.
    pub secret: String,
    /// The user ID admin tokens are issued to. Further admins may be listed in `extra_admin_user_ids`.
    #[serde(default = "default_admin")]
    pub admin_user_id: String,
    #[serde(default)]
    pub extra_admin_user_ids: Vec<String>,
}

fn default_admin() -> String {
    "imAdmin".to_owned()
}

impl OpenImSettings {
    pub fn is_admin(&self, user_id: &str) -> bool {
        self.admin_user_id == user_id || self.extra_admin_user_ids.iter().any(|a| a == user_id)
    }
}

/// An app that speaks OpenIM, with its settings.
pub struct OpenImApp {
    pub app: Arc<App>,
    pub settings: OpenImSettings,
}

/// The apps that speak OpenIM. There are few, so lookups by secret go through them in turn.
pub struct OpenImApps {
    apps: Vec<Arc<OpenImApp>>,
}

impl OpenImApps {
    pub fn read(apps: &AppDirectory) -> Result<Self, ConfigError> {
        let mut secrets = BTreeSet::new();
        let mut out = Vec::new();
        for app in apps.all() {
            let Some(settings) = settings_of::<OpenImSettings>(app, super::NAME, &[])? else { continue };
            require_secret(app, super::NAME, "secret", &settings.secret)?;
            require_secret(app, super::NAME, "admin_user_id", &settings.admin_user_id)?;
            unique(&mut secrets, settings.secret.clone(), app, "the OpenIM secret")?;
            out.push(Arc::new(OpenImApp { app: app.clone(), settings }));
        }
        Ok(Self { apps: out })
    }

    /// The app whose secret this is, compared in constant time.
    pub fn by_secret(&self, secret: &str) -> Option<&Arc<OpenImApp>> {
        if secret.is_empty() {
            return None;
        }
        self.apps.iter().find(|a| bool::from(a.settings.secret.as_bytes().ct_eq(secret.as_bytes())))
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<OpenImApp>> {
        self.apps.iter()
    }
}
