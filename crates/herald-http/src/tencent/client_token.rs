//! A user's UserSig as a client token of Herald's WebSocket gateway: the connection is that user's.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::UserId;
use herald_service::Herald;

use super::settings::TencentApps;
use super::usersig;
use crate::ClientIdentity;
use crate::dialect::ClientTokens;

/// The gateway's verifier of users' UserSigs.
pub struct TencentClientTokens(pub Arc<TencentApps>);

#[async_trait]
impl ClientTokens for TencentClientTokens {
    /// `None` if the token is not a UserSig; otherwise whether it verifies for its SDKAppID and user.
    async fn verify(&self, _: &Herald, token: &str) -> Option<Result<ClientIdentity, String>> {
        let claims = usersig::decode(token).ok()?;
        Some((|| {
            let tc = self.0.by_sdkappid(claims.sdkappid).ok_or("UserSig of an unknown SDKAppID")?;
            let now = herald_service::now_millis() / 1000;
            let claims = usersig::verify_claims(claims, &tc.settings.secret_key, now).map_err(|e| e.to_string())?;
            if claims.identifier == tc.settings.admin_identifier {
                return Err("the administrator's UserSig cannot open a client connection".to_owned());
            }
            let user = UserId::parse(claims.identifier).map_err(|e| e.to_string())?;
            Ok(ClientIdentity { app: tc.app.clone(), user, platform: None })
        })())
    }
}
