//! RongCloud client tokens, as `/user/getToken.json` issues them: HS256 JWTs signed with the app's RongCloud
//! secret, naming the app and the user. Like RongCloud's own tokens they do not expire; rotating the app secret
//! revokes them all. They open Herald's WebSocket gateway.

use herald_core::{App, AppId, Error, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AppState, ClientIdentity};

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
pub fn mint(app: &App, user: &UserId) -> Result<String, Error> {
    let secret = app.rongcloud.as_ref().ok_or_else(|| Error::Forbidden("the app has no RongCloud credentials".into()))?;
    let claims = Claims {
        typ: TOKEN_TYPE.into(),
        app: app.app_id.to_string(),
        sub: user.to_string(),
        iat: herald_service::now_millis() / 1000,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.app_secret.as_bytes()))
        .map_err(|e| Error::unavailable(format!("cannot sign a token: {e}")))
}

/// `None` if the token is not a RongCloud-dialect one; otherwise whether it verifies.
pub fn verify(state: &AppState, token: &str) -> Option<Result<ClientIdentity, String>> {
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    if claims.typ != TOKEN_TYPE {
        return None;
    }
    Some((|| {
        let app_id = AppId::parse(claims.app.clone()).map_err(|e| e.to_string())?;
        let app = state.herald.apps.get(&app_id).cloned().ok_or("token of an unknown app")?;
        let secret = app.rongcloud.as_ref().ok_or("the app has no RongCloud credentials")?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let verified =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.app_secret.as_bytes()), &validation)
                .map_err(|e| format!("invalid token: {e}"))?
                .claims;
        let user = UserId::parse(verified.sub).map_err(|e| e.to_string())?;
        Ok(ClientIdentity { app, user, platform: None })
    })())
}
