//! Apps (tenants), their per-API credentials and their limits.

use serde::{Deserialize, Serialize};

use crate::AppId;

/// A tenant with the credentials of every API dialect it speaks. Dialects whose credentials are absent are closed
/// for the app.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct App {
    pub app_id: AppId,
    /// Bearer key of the native API; also signs the app's native user tokens.
    pub api_key: String,
    #[serde(default)]
    pub openim: Option<OpenImCredentials>,
    #[serde(default)]
    pub rongcloud: Option<RongCloudCredentials>,
    #[serde(default)]
    pub tencent: Option<TencentCredentials>,
    #[serde(default)]
    pub limits: AppLimits,
    #[serde(default)]
    pub webhooks: Webhooks,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OpenImCredentials {
    pub secret: String,
    /// The user ID admin tokens are issued to. Further admins may be listed in `extra_admin_user_ids`.
    pub admin_user_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_admin_user_ids: Vec<String>,
}

impl OpenImCredentials {
    pub fn is_admin(&self, user_id: &str) -> bool {
        self.admin_user_id == user_id || self.extra_admin_user_ids.iter().any(|a| a == user_id)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RongCloudCredentials {
    pub app_key: String,
    pub app_secret: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TencentCredentials {
    pub sdkappid: u64,
    pub secret_key: String,
    pub admin_identifier: String,
}

/// Where the app's server wants to hear about changes. Empty means not at all.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Webhooks {
    /// Herald's own signed JSON webhooks (presence and follow changes).
    pub native_url: Option<String>,
    /// RongCloud-style online-status sync URL.
    pub rongcloud_status_url: Option<String>,
    /// Tencent-style callback URL (state changes and follow callbacks).
    pub tencent_callback_url: Option<String>,
}

/// Per-app bounds. Defaults follow the vendors' published numbers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AppLimits {
    /// Live subscriptions one subscriber may hold (per kind).
    pub max_subscriptions_per_subscriber: u32,
    /// Live subscribers one target may have (per kind).
    pub max_subscribers_per_target: u32,
    /// Users one user may follow.
    pub max_following: u32,
    /// Requests per second allowed on each vendor dialect's rate-limited routes.
    pub rongcloud_requests_per_second: u32,
    pub tencent_requests_per_second: u32,
    /// How far a RongCloud request's `Timestamp` may be from the server's clock, in seconds, either way.
    pub rongcloud_signature_skew_secs: u32,
}

impl Default for AppLimits {
    fn default() -> Self {
        Self {
            max_subscriptions_per_subscriber: 1000,
            max_subscribers_per_target: 5000,
            max_following: 5000,
            rongcloud_requests_per_second: 100,
            tencent_requests_per_second: 200,
            rongcloud_signature_skew_secs: 600,
        }
    }
}
