//! Who a client token belongs to, whichever dialect issued it.

use std::sync::Arc;

use herald_core::{App, Platform, UserId};

use crate::AppState;
use crate::{native, openim};

/// A verified client: the app, the user and, when the token names it, the platform.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    pub app: Arc<App>,
    pub user: UserId,
    pub platform: Option<Platform>,
}

/// Verify a client token of any dialect the node speaks. Each dialect answers `None` for tokens it does not
/// recognise, and an error for tokens it recognises but rejects.
pub async fn verify_client_token(state: &AppState, token: &str) -> Result<ClientIdentity, String> {
    if let Some(result) = native::tokens::verify(state, token) {
        return result;
    }
    if let Some(result) = crate::rongcloud::token::verify(state, token) {
        return result;
    }
    if let Some(result) = openim::token::verify_client(state, token).await {
        return result;
    }
    if let Some(result) = crate::tencent::client_token::verify(state, token) {
        return result;
    }
    Err("token not recognised".to_owned())
}
