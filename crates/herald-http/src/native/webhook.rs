//! Herald's own webhooks: every presence and follow change of an app, POSTed as JSON to `webhooks.native_url`.
//!
//! Each call carries `X-Herald-Event` (the event type) and `X-Herald-Signature: t=<unix ms>,v1=<hex>`, where the hex
//! is HMAC-SHA256 keyed by the app's API key over `"<t>.<body>"`. Receivers recompute it and may reject old `t`.

use std::sync::Arc;

use herald_core::AppId;
use herald_core::event::{FollowEvent, PresenceEvent};
use herald_service::{EventSink, Herald};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::webhooks::{Delivery, WebhookDispatcher};

pub struct NativeWebhook {
    herald: std::sync::Weak<Herald>,
    dispatcher: WebhookDispatcher,
}

/// The sink, when any app has a native webhook URL.
pub fn sink(herald: &Arc<Herald>, dispatcher: &WebhookDispatcher) -> Option<Arc<dyn EventSink>> {
    let wanted = herald.apps.all().any(|a| a.webhooks.native_url.is_some());
    // Weak: the sink lives inside the service it points back to.
    wanted.then(|| Arc::new(NativeWebhook { herald: Arc::downgrade(herald), dispatcher: dispatcher.clone() }) as _)
}

/// The signature header value for a body sent at `t` (unix milliseconds).
pub fn signature(api_key: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl NativeWebhook {
    fn send(&self, app_id: &AppId, ordering_key: &str, event_type: &'static str, payload: Value) {
        let Some(herald) = self.herald.upgrade() else { return };
        let Some(app) = herald.apps.get(app_id) else { return };
        let Some(url) = app.webhooks.native_url.clone() else { return };
        let body = payload.to_string().into_bytes();
        let t = herald_service::now_millis();
        let headers =
            vec![("x-herald-event", event_type.to_owned()), ("x-herald-signature", signature(&app.api_key, t, &body))];
        let url: crate::webhooks::UrlBuilder = Arc::new(move || url.clone());
        self.dispatcher.enqueue(ordering_key, Delivery { url, body, headers, kind: event_type });
    }
}

impl EventSink for NativeWebhook {
    fn presence_changed(&self, e: &Arc<PresenceEvent>) {
        let payload = json!({
            "type": "presence.changed",
            "app_id": e.app,
            "user_id": e.user_id,
            "online": e.view.online,
            "platforms": e.view.platforms,
            "push_online": e.view.push_online,
            "custom_status": e.view.custom_status,
            "previous": {"online": e.previous.online, "platforms": e.previous.platforms},
            "cause": e.cause,
            "platform": e.platform,
            "at": e.at,
        });
        self.send(&e.app, e.user_id.as_str(), "presence.changed", payload);
    }

    fn follow_changed(&self, e: &FollowEvent) {
        let event_type = if e.followed { "follow.added" } else { "follow.removed" };
        let payload = json!({
            "type": event_type,
            "app_id": e.app,
            "follower": e.follower,
            "followees": e.followees,
            "at": e.at,
        });
        self.send(&e.app, e.follower.as_str(), event_type, payload);
    }
}
