//! A user's UserSig as a client token of Herald's WebSocket gateway: the connection is that user's.

use herald_core::UserId;

use super::usersig;
use crate::{AppState, ClientIdentity};

/// `None` if the token is not a UserSig; otherwise whether it verifies for its SDKAppID and user.
pub fn verify(state: &AppState, token: &str) -> Option<Result<ClientIdentity, String>> {
    let claims = usersig::decode(token).ok()?;
    Some((|| {
        let app = state.herald.apps.by_tencent_sdkappid(claims.sdkappid).cloned().ok_or("UserSig of an unknown SDKAppID")?;
        let secret = &app.tencent.as_ref().ok_or("the app does not speak the Tencent dialect")?.secret_key;
        let now = herald_service::now_millis() / 1000;
        let claims = usersig::verify_claims(claims, secret, now).map_err(|e| e.to_string())?;
        let user = UserId::parse(claims.identifier).map_err(|e| e.to_string())?;
        Ok(ClientIdentity { app, user, platform: None })
    })())
}
