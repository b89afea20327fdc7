//! App configuration: each dialect's settings in its own `dialects.<name>` table (the older layout still works, see
//! the dialect suites), and refusal to start on a configuration that would mix up tenants or leave one open.

use serde_json::json;

use crate::openim;
use crate::rongcloud::Rc;
use crate::support::{Options, Server, refused_config};

#[tokio::test]
async fn dialect_settings_live_in_their_own_tables() {
    let config = r#"
[[apps]]
app_id = "chat"
api_key = "chat-key"
limits = { max_following = 2 }

[apps.dialects.openim]
secret = "openim-secret"

[apps.dialects.rongcloud]
app_key = "rc-key"
app_secret = "rc-secret"
requests_per_second = 1
"#;
    let s = Server::start_with(Options { config_toml: Some(config.to_owned()), ..Options::default() }).await;
    let r =
        openim::call(&s, "/auth/get_admin_token", None, json!({"secret": "openim-secret", "userID": "imAdmin"})).await;
    assert_eq!(r["errCode"], 0, "the default admin user ID applies: {r}");
    let rc = Rc::with(&s, "rc-key", "rc-secret");
    let answers =
        [rc.post("/user/checkOnline.json", "userId=x").await, rc.post("/user/checkOnline.json", "userId=x").await];
    assert!(answers.iter().any(|(status, body)| *status == 429 && body["code"] == 1008), "rate 1/s: {answers:?}");
}

#[test]
fn a_configuration_that_mixes_up_or_opens_tenants_is_refused() {
    let app = |id: &str, key: &str, extra: &str| format!("[[apps]]\napp_id = \"{id}\"\napi_key = \"{key}\"\n{extra}\n");
    let cases = [
        (app("a", "k1", "") + &app("a", "k2", ""), "app a is configured twice"),
        (app("a", "k", "") + &app("b", "k", ""), "have the same API key"),
        (app("a:b", "k", ""), "app_id"),
        (app("a", "", ""), "api_key"),
        (
            app("a", "k", "tencent = { sdkappid = 1400000001, secret_key = \"\" }"),
            "dialects.tencent.secret_key must not be empty",
        ),
        (app("a", "k", "openim = { secret = \"\" }"), "dialects.openim.secret must not be empty"),
        (
            app("a", "k1", "tencent = { sdkappid = 1400000001, secret_key = \"s1\" }")
                + &app("b", "k2", "tencent = { sdkappid = 1400000001, secret_key = \"s2\" }"),
            "the Tencent sdkappid \"1400000001\" is used by another app too",
        ),
        (
            app("a", "k1", "rongcloud = { app_key = \"rk\", app_secret = \"s1\" }")
                + &app("b", "k2", "rongcloud = { app_key = \"rk\", app_secret = \"s2\" }"),
            "the RongCloud app_key \"rk\" is used by another app too",
        ),
        (
            app("a", "k1", "openim = { secret = \"same\" }") + &app("b", "k2", "openim = { secret = \"same\" }"),
            "the OpenIM secret",
        ),
        (app("a", "k", "limits = { max_folowing = 3 }"), "unknown setting limits.max_folowing"),
        (app("a", "k", "[apps.dialects.wechat]\nkey = 1"), "unknown setting dialects.wechat"),
        (app("a", "k", "rongcloud = { app_key = \"rk\", app_secret = \"s\", typo = 1 }"), "unknown field `typo`"),
    ];
    for (config, expected) in cases {
        let said = refused_config(&config);
        assert!(said.contains(expected), "for\n{config}\nexpected {expected:?} in:\n{said}");
    }
}
