//! Who a client token belongs to, whichever dialect issued it.

use std::sync::Arc;

use herald_core::{App, Platform, UserId};

use crate::AppState;
use crate::native;

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
    match native::tokens::verify(state, token).or_else(|| crate::tencent::client_token::verify(state, token)) {
        Some(result) => result,
        None => Err("token not recognised".to_owned()),
    }
}
