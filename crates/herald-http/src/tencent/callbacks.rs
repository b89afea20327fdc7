//! Tencent-style callbacks to the app's `tencent_callback_url`: `State.StateChange` when a platform logs in or
//! out, and `Follow.CallbackAfterFollowAdd` / `Follow.CallbackAfterFollowDelete` after follow changes. They go
//! through the shared webhook dispatcher (ordered per user, retried with backoff, never blocking the change).

use std::sync::Arc;

use herald_core::Platform;
use herald_core::event::{FollowEvent, PresenceEvent};
use herald_core::presence::ChangeCause;
use herald_service::EventSink;
use serde_json::{Value, json};

use super::platform;
use super::settings::{TencentApps, TencentSettings};
use crate::webhooks::{Delivery, WebhookDispatcher};

pub const STATE_CHANGE: &str = "State.StateChange";
pub const AFTER_FOLLOW_ADD: &str = "Follow.CallbackAfterFollowAdd";
pub const AFTER_FOLLOW_DELETE: &str = "Follow.CallbackAfterFollowDelete";

/// The callback sink, if any app has a Tencent callback URL.
pub fn sink(apps: &Arc<TencentApps>, dispatcher: &WebhookDispatcher) -> Option<Arc<dyn EventSink>> {
    if !apps.all().any(|a| a.settings.callback_url.is_some()) {
        return None;
    }
    Some(Arc::new(Callbacks { apps: apps.clone(), dispatcher: dispatcher.clone() }))
}

struct Callbacks {
    apps: Arc<TencentApps>,
    dispatcher: WebhookDispatcher,
}

/// A platform's login state change, as Tencent reports it.
#[derive(Debug, PartialEq, Eq)]
struct StateChange {
    action: &'static str,
    reason: &'static str,
    platform: Platform,
}

impl Callbacks {
    /// The app's settings and callback URL, when it wants callbacks.
    fn target(&self, app: &herald_core::AppId) -> Option<(&TencentSettings, &str)> {
        let tc = self.apps.by_id(app)?;
        Some((&tc.settings, tc.settings.callback_url.as_deref()?))
    }

    fn send(
        &self,
        ordering_key: &str,
        url: &str,
        sdkappid: u64,
        command: &'static str,
        opt_platform: &str,
        body: Value,
    ) {
        let query = serde_urlencoded::to_string([
            ("SdkAppid", sdkappid.to_string().as_str()),
            ("CallbackCommand", command),
            ("contenttype", "json"),
            // Herald does not track client addresses.
            ("ClientIP", ""),
            ("OptPlatform", opt_platform),
        ])
        .unwrap_or_default();
        let separator = if url.contains('?') { '&' } else { '?' };
        let full = format!("{url}{separator}{query}");
        self.dispatcher.enqueue(
            ordering_key,
            Delivery {
                url: Arc::new(move || full.clone()),
                body: body.to_string().into_bytes(),
                headers: Vec::new(),
                kind: command,
            },
        );
    }
}

impl EventSink for Callbacks {
    fn presence_changed(&self, event: &Arc<PresenceEvent>) {
        let Some((credentials, url)) = self.target(&event.app) else { return };
        for change in state_changes(event) {
            let body = json!({
                "CallbackCommand": STATE_CHANGE,
                "EventTime": event.at,
                "Info": {"Action": change.action, "To_Account": event.user_id, "Reason": change.reason},
                // Herald never logs a device out because another logged in.
                "KickedDevice": [],
            });
            let opt_platform = match event.cause {
                ChangeCause::Kicked | ChangeCause::Reported => platform::REST_API,
                _ => platform::name(change.platform),
            };
            self.send(event.user_id.as_str(), url, credentials.sdkappid, STATE_CHANGE, opt_platform, body);
        }
    }

    fn follow_changed(&self, event: &FollowEvent) {
        let Some((credentials, url)) = self.target(&event.app) else { return };
        let (command, body) = if event.followed {
            let list: Vec<Value> = event.followees.iter().map(|f| json!({"To_Account": f})).collect();
            (
                AFTER_FOLLOW_ADD,
                json!({"CallbackCommand": AFTER_FOLLOW_ADD, "From_Account": event.follower, "FollowList": list, "EventTime": event.at}),
            )
        } else {
            (
                AFTER_FOLLOW_DELETE,
                json!({"CallbackCommand": AFTER_FOLLOW_DELETE, "From_Account": event.follower, "To_Account": event.followees, "EventTime": event.at}),
            )
        };
        self.send(event.follower.as_str(), url, credentials.sdkappid, command, platform::REST_API, body);
    }
}

/// One change per platform that came or went. Login is `Register`; a platform gone is `Disconnect` with
/// `TimeOut` (missed heartbeats, expired report) or `LinkClose` (the connection closed), or `Logout` with
/// `Unregister` (kicked, or reported offline by the app server). Background and custom-status changes are not
/// login changes and report nothing.
fn state_changes(event: &PresenceEvent) -> Vec<StateChange> {
    let (now, before) = (&event.view.platforms, &event.previous.platforms);
    let (action, reason) = match event.cause {
        ChangeCause::TimedOut => ("Disconnect", "TimeOut"),
        ChangeCause::Disconnected => ("Disconnect", "LinkClose"),
        _ => ("Logout", "Unregister"),
    };
    let logins = now.iter().filter(|p| !before.contains(p)).map(|&platform| StateChange {
        action: "Login",
        reason: "Register",
        platform,
    });
    let logouts = before.iter().filter(|p| !now.contains(p)).map(|&platform| StateChange { action, reason, platform });
    logins.chain(logouts).collect()
}

#[cfg(test)]
mod tests {
    use herald_core::presence::PresenceView;
    use herald_core::{AppId, UserId};

    use super::*;

    fn event(before: &[Platform], now: &[Platform], cause: ChangeCause) -> PresenceEvent {
        let view = |p: &[Platform]| PresenceView { online: !p.is_empty(), platforms: p.to_vec(), ..Default::default() };
        PresenceEvent {
            app: AppId::parse("a").unwrap(),
            user_id: UserId::parse("u").unwrap(),
            view: view(now),
            previous: view(before),
            details: Vec::new(),
            cause,
            platform: None,
            at: 1,
        }
    }

    #[test]
    fn causes_map_to_tencent_actions_and_reasons() {
        let login = state_changes(&event(&[], &[Platform::Ios], ChangeCause::Connected));
        assert_eq!(login, vec![StateChange { action: "Login", reason: "Register", platform: Platform::Ios }]);
        let closed =
            state_changes(&event(&[Platform::Ios, Platform::Web], &[Platform::Ios], ChangeCause::Disconnected));
        assert_eq!(closed, vec![StateChange { action: "Disconnect", reason: "LinkClose", platform: Platform::Web }]);
        let timed_out = state_changes(&event(&[Platform::Web], &[], ChangeCause::TimedOut));
        assert_eq!((timed_out[0].action, timed_out[0].reason), ("Disconnect", "TimeOut"));
        let kicked = state_changes(&event(&[Platform::Web], &[], ChangeCause::Kicked));
        assert_eq!((kicked[0].action, kicked[0].reason), ("Logout", "Unregister"));
        assert!(state_changes(&event(&[Platform::Web], &[Platform::Web], ChangeCause::Background)).is_empty());
    }
}
