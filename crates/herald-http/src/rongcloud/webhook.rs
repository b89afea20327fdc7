//! RongCloud's online-status sync: every presence change of an app's users is POSTed as JSON to the app's
//! `rongcloud_status_url`, signed with `nonce`, `signTimestamp` and `signature` query parameters.
//!
//! Herald's presence is per platform, RongCloud's callback per connection; a derived change becomes one call per
//! platform that came online (`status` "0") or went away ("1" offline, or "2" logout when the session was kicked),
//! with `os` naming that platform. Changes that keep the set of platforms (background, custom status) send
//! nothing. Calls go through the shared [`WebhookDispatcher`]: in order per user, retried with backoff, never
//! holding up presence itself.

use std::collections::HashMap;
use std::sync::Arc;

use herald_core::event::PresenceEvent;
use herald_core::presence::ChangeCause;
use herald_core::{AppId, Platform};
use herald_service::EventSink;
use serde::Serialize;

use super::auth::sign;
use super::settings::RongCloudApps;
use crate::webhooks::{Delivery, WebhookDispatcher};

/// The callback body, with RongCloud's field names.
#[derive(Serialize)]
struct StatusCallback<'a> {
    userid: &'a str,
    /// "0" online, "1" offline, "2" logout: the opposite polarity of `checkOnline`.
    status: &'static str,
    os: &'static str,
    time: i64,
    /// Herald's events carry no client address or session ID; both are sent empty.
    #[serde(rename = "clientIp")]
    client_ip: &'static str,
    #[serde(rename = "sessionId")]
    session_id: &'static str,
}

/// Where one app's callbacks go and what signs them.
struct Target {
    url: String,
    secret: Arc<str>,
}

struct StatusWebhook {
    targets: HashMap<AppId, Target>,
    dispatcher: WebhookDispatcher,
}

/// Register the status webhook with the service, when at least one app has a RongCloud status URL. Call once.
pub fn sink(apps: &RongCloudApps, dispatcher: &WebhookDispatcher) -> Option<Arc<dyn EventSink>> {
    let targets: HashMap<AppId, Target> = apps
        .all()
        .filter_map(|rc| {
            let url = rc.settings.status_url.as_ref().filter(|u| !u.is_empty())?;
            Some((rc.app.app_id.clone(), Target { url: url.clone(), secret: rc.settings.app_secret.as_str().into() }))
        })
        .collect();
    if targets.is_empty() {
        return None;
    }
    Some(Arc::new(StatusWebhook { targets, dispatcher: dispatcher.clone() }))
}

impl EventSink for StatusWebhook {
    fn presence_changed(&self, event: &Arc<PresenceEvent>) {
        let Some(target) = self.targets.get(&event.app) else { return };
        let gone_status = if event.cause == ChangeCause::Kicked { "2" } else { "1" };
        let came = event.view.platforms.iter().filter(|p| !event.previous.platforms.contains(p)).map(|p| (*p, "0"));
        let went =
            event.previous.platforms.iter().filter(|p| !event.view.platforms.contains(p)).map(|p| (*p, gone_status));
        let ordering_key = format!("{}/{}", event.app, event.user_id);
        for (platform, status) in went.chain(came) {
            let body = StatusCallback {
                userid: event.user_id.as_str(),
                status,
                os: os_name(platform),
                time: event.at,
                client_ip: "",
                session_id: "",
            };
            let Ok(body) = serde_json::to_vec(&body) else { continue };
            let (url, secret) = (target.url.clone(), target.secret.clone());
            let delivery = Delivery {
                url: Arc::new(move || signed_url(&url, &secret)),
                body,
                headers: Vec::new(),
                kind: "rongcloud.status",
            };
            self.dispatcher.enqueue(&ordering_key, delivery);
        }
    }
}

/// RongCloud's `os` names.
fn os_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Ios | Platform::Ipad => "iOS",
        Platform::Android | Platform::AndroidPad => "Android",
        Platform::HarmonyOs => "HarmonyOS",
        Platform::Web => "Websocket",
        Platform::MiniWeb => "MiniProgram",
        Platform::Windows | Platform::Macos | Platform::Linux => "PC",
    }
}

/// The URL with a fresh signature for this attempt.
fn signed_url(url: &str, secret: &str) -> String {
    let nonce = rand::random::<u32>().to_string();
    let timestamp = herald_service::now_millis().to_string();
    let signature = sign(secret, &nonce, &timestamp);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}nonce={nonce}&signTimestamp={timestamp}&signature={signature}")
}
