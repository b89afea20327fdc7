//! Session tokens that are recorded server-side, so that a newer login or a forced logout can end them. A dialect
//! signs the token in its own format around the session ID; the record and the multi-login policy live here.

use herald_core::store::TokenRecord;
use herald_core::{AppId, Millis, Platform, Result, UserId};

use crate::Herald;

/// Whom a session is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionHolder {
    /// A registered user's client on one platform.
    Client { user: UserId, platform: Platform },
    /// One of the app's administrators, who need not be a registered user.
    Admin(UserId),
}

/// What a new client session does to the user's other sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiLogin {
    /// The user's older sessions on the same platform end (their tokens are kicked).
    OnePerPlatform,
    /// Sessions never end each other.
    Unlimited,
}

impl Herald {
    /// Record a new session until `expires_at` and apply the multi-login policy. A client session needs its user
    /// registered. Returns the record; its `token_id` is fresh and unguessable.
    pub async fn open_session(
        &self,
        app: &AppId,
        holder: SessionHolder,
        expires_at: Millis,
        policy: MultiLogin,
    ) -> Result<TokenRecord> {
        let (user_id, platform) = match holder {
            SessionHolder::Client { user, platform } => {
                self.require_registered(app, &user).await?;
                if policy == MultiLogin::OnePerPlatform {
                    self.store.kick_tokens(app, &user, Some(platform)).await?;
                }
                (user, Some(platform))
            }
            SessionHolder::Admin(user) => (user, None),
        };
        let record = TokenRecord {
            token_id: format!("{:032x}", rand::random::<u128>()),
            user_id,
            platform,
            expires_at,
            kicked: false,
        };
        self.store.record_token(app, &record).await?;
        Ok(record)
    }

    /// The record of a session, if this server issued it (kicked ones included, marked so).
    pub async fn session(&self, app: &AppId, token_id: &str) -> Result<Option<TokenRecord>> {
        self.store.token(app, token_id).await
    }

    /// End a registered user's sessions (on one platform, or all) and close its connections there.
    pub async fn force_logout(&self, app: &AppId, user: &UserId, platform: Option<Platform>) -> Result<usize> {
        self.require_registered(app, user).await?;
        self.store.kick_tokens(app, user, platform).await?;
        self.close_connections(app, user, platform, "forced logout").await
    }
}
