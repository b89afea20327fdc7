//! Who a client token belongs to, whichever dialect issued it.

use std::sync::Arc;

use herald_core::{App, Platform, UserId};

use crate::AppState;

/// A verified client: the app, the user and, when the token names it, the platform.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    pub app: Arc<App>,
    pub user: UserId,
    pub platform: Option<Platform>,
}

/// Verify a client token of any API the node speaks. Each verifier answers `None` for tokens it does not
/// recognise, and an error for tokens it recognises but rejects.
pub async fn verify_client_token(state: &AppState, token: &str) -> Result<ClientIdentity, String> {
    for verifier in state.client_tokens.iter() {
        if let Some(result) = verifier.verify(&state.herald, token).await {
            return result;
        }
    }
    Err("token not recognised".to_owned())
}
