//! The generated `default` app and its `credentials.json`: the app's ID, its native API key, and each API dialect's
//! credentials under the dialect's name (as each dialect generates them).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use herald_core::App;
use serde_json::{Map, Value, json};

pub const FILE_NAME: &str = "credentials.json";

/// The settings tables of an app, as opposed to its credentials: they come from each start's configuration.
const SETTINGS: [&str; 2] = ["limits", "webhooks"];

/// What `credentials.json` holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Credentials(Map<String, Value>);

impl Credentials {
    pub fn generate() -> Self {
        let mut map = Map::new();
        map.insert("app_id".into(), json!("default"));
        map.insert("api_key".into(), json!(format!("hk_{}", herald_http::random_hex(24))));
        for dialect in herald_http::DIALECTS {
            map.insert(dialect.name().into(), dialect.generate_credentials());
        }
        Self(map)
    }

    /// The credentials of a stored app: its configuration without the settings tables.
    pub fn of(app: &App) -> Self {
        let mut map = app.config.clone();
        for key in SETTINGS {
            map.remove(key);
        }
        Self(map)
    }

    /// The app these credentials stand for, without settings.
    pub fn app(&self) -> anyhow::Result<App> {
        App::from_config(self.0.clone()).context("the default app's credentials are not usable")
    }

    /// The app with this start's `[default_app]` settings laid over the credentials.
    pub fn app_with(&self, settings: &Map<String, Value>) -> anyhow::Result<App> {
        let mut config = self.0.clone();
        merge(&mut config, settings);
        App::from_config(config).context("[default_app] is not a usable app configuration")
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    pub fn read(data: &Path) -> anyhow::Result<Option<Self>> {
        let path = data.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(Self(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?)))
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
        file.write_all(serde_json::to_string_pretty(&self.0)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// Lay `over` onto `base`, table by table: a setting of `over` replaces the same one of `base`, and tables both
/// have are merged rather than replaced.
fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => merge(into, from),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_laid_over_credentials_table_by_table() {
        let credentials = Credentials(
            json!({"app_id": "default", "api_key": "k", "rongcloud": {"app_key": "a", "app_secret": "s"}})
                .as_object()
                .unwrap()
                .clone(),
        );
        let settings = json!({"limits": {"max_following": 3}, "rongcloud": {"requests_per_second": 5}});
        let app = credentials.app_with(settings.as_object().unwrap()).unwrap();
        assert_eq!(app.limits.max_following, 3);
        let rc = app.dialect_section("rongcloud").unwrap();
        assert_eq!((rc["app_key"].clone(), rc["requests_per_second"].clone()), (json!("a"), json!(5)));
        let with_limits = credentials.app_with(json!({"limits": {"max_following": 3}}).as_object().unwrap()).unwrap();
        assert_eq!(Credentials::of(&with_limits), credentials, "settings are not credentials");
    }
}
