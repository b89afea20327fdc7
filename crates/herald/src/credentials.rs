//! The generated `default` app and its `credentials.json`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use herald_core::app::{OpenImCredentials, RongCloudCredentials, TencentCredentials};
use herald_core::{App, AppId};
use serde::{Deserialize, Serialize};

use crate::config::DefaultAppSection;

pub const FILE_NAME: &str = "credentials.json";

/// What `credentials.json` holds: one object per API dialect.
#[derive(Serialize, Deserialize)]
pub struct Credentials {
    pub app_id: AppId,
    pub api_key: String,
    pub openim: OpenImCredentials,
    pub rongcloud: RongCloudCredentials,
    pub tencent: TencentCredentials,
}

impl Credentials {
    pub fn generate() -> Self {
        Self {
            app_id: AppId::parse("default").expect("valid app ID"),
            api_key: format!("hk_{}", random_hex(24)),
            openim: OpenImCredentials {
                secret: random_hex(16),
                admin_user_id: "imAdmin".into(),
                extra_admin_user_ids: Vec::new(),
            },
            rongcloud: RongCloudCredentials { app_key: random_hex(8), app_secret: random_hex(10) },
            tencent: TencentCredentials {
                sdkappid: rand::random_range(1_400_000_000..1_500_000_000),
                secret_key: random_hex(32),
                admin_identifier: "administrator".into(),
            },
        }
    }

    pub fn into_app(self, settings: &DefaultAppSection) -> App {
        App {
            app_id: self.app_id,
            api_key: self.api_key,
            openim: Some(self.openim),
            rongcloud: Some(self.rongcloud),
            tencent: Some(self.tencent),
            limits: settings.limits.clone(),
            webhooks: settings.webhooks.clone(),
        }
    }

    /// The credentials of an app that speaks every dialect; `None` for one that does not.
    pub fn of(app: &App) -> Option<Self> {
        Some(Self {
            app_id: app.app_id.clone(),
            api_key: app.api_key.clone(),
            openim: app.openim.clone()?,
            rongcloud: app.rongcloud.clone()?,
            tencent: app.tencent.clone()?,
        })
    }

    pub fn read(data: &Path) -> anyhow::Result<Option<Self>> {
        let path = data.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
    }

    /// Write the file readable by its owner only.
    pub fn write(&self, data: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = data.join(FILE_NAME);
        let tmp = data.join(format!("{FILE_NAME}.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}
