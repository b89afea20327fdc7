//! RongCloud client tokens, as `/user/getToken.json` issues them: HS256 JWTs signed with the app's RongCloud
//! secret, naming the app and the user. Like RongCloud's own tokens they do not expire; rotating the app secret
//! revokes them all. They open Herald's WebSocket gateway.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::{AppId, Error, UserId};
use herald_service::Herald;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::settings::{RongCloudApp, RongCloudApps};
use crate::ClientIdentity;
use crate::dialect::ClientTokens;

/// Marks RongCloud-dialect tokens, so other dialects' JWTs are not mistaken for them.
const TOKEN_TYPE: &str = "rongcloud";

#[derive(Serialize, Deserialize)]
struct Claims {
    typ: String,
    app: String,
    sub: String,
    iat: i64,
}

/// Sign a token for `user` with the app's RongCloud secret.
pub fn mint(rc: &RongCloudApp, user: &UserId) -> Result<String, Error> {
    let claims = Claims {
        typ: TOKEN_TYPE.into(),
        app: rc.app.app_id.to_string(),
        sub: user.to_string(),
        iat: herald_service::now_millis() / 1000,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(rc.settings.app_secret.as_bytes()),
    )
    .map_err(|e| Error::unavailable(format!("cannot sign a token: {e}")))
}

/// The gateway's verifier of RongCloud client tokens.
pub struct RongCloudClientTokens(pub Arc<RongCloudApps>);

#[async_trait]
impl ClientTokens for RongCloudClientTokens {
    /// `None` if the token is not a RongCloud-dialect one; otherwise whether it verifies.
    async fn verify(&self, _: &Herald, token: &str) -> Option<Result<ClientIdentity, String>> {
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
        if claims.typ != TOKEN_TYPE {
            return None;
        }
        Some((|| {
            let app_id = AppId::parse(claims.app.clone()).map_err(|e| e.to_string())?;
            let rc = self.0.by_id(&app_id).ok_or("token of an app without RongCloud settings")?;
            let mut validation = Validation::new(Algorithm::HS256);
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            let key = DecodingKey::from_secret(rc.settings.app_secret.as_bytes());
            let verified = jsonwebtoken::decode::<Claims>(token, &key, &validation)
                .map_err(|e| format!("invalid token: {e}"))?
                .claims;
            let user = UserId::parse(verified.sub).map_err(|e| e.to_string())?;
            Ok(ClientIdentity { app: rc.app.clone(), user, platform: None })
        })())
    }
}
