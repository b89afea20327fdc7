//! Apps (tenants): the native API key, the domain limits, the native webhook, and the configuration the API
//! dialects read their own settings from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{AppId, Error, Result};

/// A tenant. Core knows its ID, its native API key, its domain limits and its native webhook. Everything else in
/// its configuration (the credentials, rate limits and webhook URLs of the API dialects it speaks) is kept as
/// written in [`App::config`], for each dialect to read its own part of.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    pub app_id: AppId,
    /// Bearer key of the native API; also signs the app's native user tokens and webhooks.
    pub api_key: String,
    pub limits: AppLimits,
    pub webhooks: Webhooks,
    /// The app's whole configuration as written (herald.toml's `[[apps]]` table, or the stored record). The fields
    /// above are read from it.
    pub config: Map<String, Value>,
}

impl App {
    /// The top-level keys core reads; dialects read `dialects.<name>` (and any older spellings they accept).
    pub const KEYS: [&'static str; 5] = ["app_id", "api_key", "limits", "webhooks", "dialects"];

    /// Read an app from its configuration.
    pub fn from_config(config: Map<String, Value>) -> Result<Self> {
        let text = |key: &'static str| match config.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Error::invalid(key, "must be a string")),
            None => Err(Error::invalid(key, "is required")),
        };
        let app_id = AppId::parse(text("app_id")?)?;
        let api_key = text("api_key")?;
        if api_key.trim().is_empty() {
            return Err(Error::invalid("api_key", format!("of app {app_id} must not be empty")));
        }
        let table = |key: &'static str| config.get(key).cloned().unwrap_or_else(|| Value::Object(Map::new()));
        let limits = serde_json::from_value(table("limits"))
            .map_err(|e| Error::invalid("limits", format!("of app {app_id}: {e}")))?;
        let webhooks = serde_json::from_value(table("webhooks"))
            .map_err(|e| Error::invalid("webhooks", format!("of app {app_id}: {e}")))?;
        Ok(Self { app_id, api_key, limits, webhooks, config })
    }

    /// The settings table of one dialect: `dialects.<name>`, laid over the older top-level `<name>` table that
    /// configurations and credentials files written before dialects had their own section use. `None` when the
    /// app has neither.
    pub fn dialect_section(&self, name: &str) -> Option<Map<String, Value>> {
        let older = self.config.get(name).and_then(Value::as_object);
        let newer = self.config.get("dialects").and_then(|d| d.get(name)).and_then(Value::as_object);
        match (older, newer) {
            (None, None) => None,
            (older, newer) => {
                let mut merged = older.cloned().unwrap_or_default();
                merged.extend(newer.cloned().unwrap_or_default());
                Some(merged)
            }
        }
    }

    /// A value of the `limits` or `webhooks` table by key, for settings that older configurations kept there.
    pub fn legacy_setting(&self, table: &str, key: &str) -> Option<&Value> {
        self.config.get(table)?.get(key)
    }
}

impl Serialize for App {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.config.serialize(s)
    }
}

impl<'de> Deserialize<'de> for App {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        App::from_config(Map::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Where the app's server wants to hear about changes in Herald's own format. Empty means not at all.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Webhooks {
    /// Herald's own signed JSON webhooks (presence and follow changes).
    pub native_url: Option<String>,
}

impl Webhooks {
    pub const KEYS: [&'static str; 1] = ["native_url"];
}

/// Per-app bounds of the domain. Defaults follow the vendors' published numbers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AppLimits {
    /// Live subscriptions one subscriber may hold (per kind).
    pub max_subscriptions_per_subscriber: u32,
    /// Live subscribers one target may have (per kind).
    pub max_subscribers_per_target: u32,
    /// Users one user may follow.
    pub max_following: u32,
    /// Live connections one user may hold, all platforms together; a newer one replaces the oldest.
    pub max_connections_per_user: u32,
    /// Live connections one user may hold on one platform; a newer one replaces the oldest there.
    pub max_connections_per_platform: u32,
}

impl AppLimits {
    pub const KEYS: [&'static str; 5] = [
        "max_subscriptions_per_subscriber",
        "max_subscribers_per_target",
        "max_following",
        "max_connections_per_user",
        "max_connections_per_platform",
    ];
}

impl Default for AppLimits {
    fn default() -> Self {
        Self {
            max_subscriptions_per_subscriber: 1000,
            max_subscribers_per_target: 5000,
            max_following: 5000,
            max_connections_per_user: 64,
            max_connections_per_platform: 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(v: Value) -> Result<App> {
        App::from_config(v.as_object().unwrap().clone())
    }

    #[test]
    fn reads_its_own_fields_and_keeps_the_rest() {
        let a = app(json!({
            "app_id": "chat", "api_key": "k",
            "limits": {"max_following": 7, "someone_elses_limit": 1},
            "webhooks": {"native_url": "http://x"},
            "legacy": {"secret": "a", "other": 1},
            "dialects": {"legacy": {"secret": "b"}},
        }))
        .unwrap();
        assert_eq!(a.limits.max_following, 7);
        assert_eq!(a.limits.max_subscribers_per_target, 5000);
        assert_eq!(a.webhooks.native_url.as_deref(), Some("http://x"));
        let section = a.dialect_section("legacy").unwrap();
        assert_eq!((section["secret"].clone(), section["other"].clone()), (json!("b"), json!(1)), "newer wins");
        assert_eq!(a.dialect_section("absent"), None);
        assert_eq!(a.legacy_setting("limits", "someone_elses_limit"), Some(&json!(1)));
        assert_eq!(serde_json::to_value(&a).unwrap()["legacy"]["secret"], "a", "serializes as written");
    }

    #[test]
    fn refuses_bad_ids_and_keys() {
        assert!(app(json!({"app_id": "a:b", "api_key": "k"})).is_err());
        assert!(app(json!({"app_id": "a", "api_key": ""})).is_err());
        assert!(app(json!({"app_id": "a"})).is_err());
        assert!(app(json!({"app_id": "a", "api_key": "k", "limits": {"max_following": -1}})).is_err());
    }
}
