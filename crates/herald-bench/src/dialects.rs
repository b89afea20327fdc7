//! Credentials of the vendor dialects, made here the way the vendors' own SDKs make them, so the `api` scenario can
//! call each dialect's hot routes as an unmodified app server would.

use std::io::Write;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::api::Api;

/// RongCloud's signed-request headers: `Signature = hex(SHA1(AppSecret + Nonce + Timestamp))`, fresh per request.
pub fn rongcloud_headers(app_key: &str, app_secret: &str, nonce: u64) -> [(&'static str, String); 4] {
    let timestamp = (crate::stats::unix_micros() / 1_000_000).to_string();
    let nonce = nonce.to_string();
    let mut sha = Sha1::new();
    sha.update(app_secret.as_bytes());
    sha.update(nonce.as_bytes());
    sha.update(timestamp.as_bytes());
    let signature = hex::encode(sha.finalize());
    [("App-Key", app_key.to_owned()), ("Nonce", nonce), ("Timestamp", timestamp), ("Signature", signature)]
}

/// A Tencent UserSig as TLSSigAPIv2's `genUserSig` makes it: the HMAC-SHA256 of the `TLS.<field>:<value>\n`
/// lines, in a JSON document that is zlib-compressed and base64-encoded with `+/=` made `*-_`.
pub fn tencent_usersig(sdkappid: u64, secret_key: &str, identifier: &str, expire_secs: i64) -> String {
    let now = crate::stats::unix_micros() / 1_000_000;
    let content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{now}\nTLS.expire:{expire_secs}\n");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let doc = json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire_secs,
        "TLS.time": now,
        "TLS.sig": sig,
    });
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    let _ = z.write_all(doc.to_string().as_bytes());
    let compressed = z.finish().unwrap_or_default();
    STANDARD.encode(compressed).replace('+', "*").replace('/', "-").replace('=', "_")
}

/// The credentials of each dialect, from the server's credentials.json.
pub struct DialectCredentials {
    pub openim_admin_token: Option<String>,
    pub rongcloud: Option<(String, String)>,
    /// sdkappid, administrator identifier, administrator UserSig.
    pub tencent: Option<(u64, String, String)>,
}

impl DialectCredentials {
    pub async fn load(api: &Api) -> anyhow::Result<Self> {
        let c = &api.credentials;
        let openim_admin_token = match (c["openim"]["secret"].as_str(), c["openim"]["admin_user_id"].as_str()) {
            (Some(secret), Some(admin)) => Some(openim_admin_token(api, secret, admin).await?),
            _ => None,
        };
        let rongcloud = match (c["rongcloud"]["app_key"].as_str(), c["rongcloud"]["app_secret"].as_str()) {
            (Some(k), Some(s)) => Some((k.to_owned(), s.to_owned())),
            _ => None,
        };
        let tencent = match (
            c["tencent"]["sdkappid"].as_u64(),
            c["tencent"]["secret_key"].as_str(),
            c["tencent"]["admin_identifier"].as_str(),
        ) {
            (Some(id), Some(key), Some(admin)) => Some((id, admin.to_owned(), tencent_usersig(id, key, admin, 86_400))),
            _ => None,
        };
        Ok(Self { openim_admin_token, rongcloud, tencent })
    }
}

async fn openim_admin_token(api: &Api, secret: &str, admin: &str) -> anyhow::Result<String> {
    let r = api
        .http
        .post(format!("{}/auth/get_admin_token", api.base))
        .header("operationID", "bench-setup")
        .json(&json!({ "secret": secret, "userID": admin }))
        .send()
        .await?;
    let body: Value = r.json().await?;
    body["data"]["token"].as_str().map(str::to_owned).with_context(|| format!("OpenIM admin token: {body}"))
}
