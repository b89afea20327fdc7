//! Native user tokens: HS256 JWTs signed with the app's API key, carrying the app, the user and optionally the
//! platform. They are stateless: rotating the API key revokes them all.

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use herald_core::{App, Platform, UserId};
use herald_service::Herald;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AuthedApp, Body};
use crate::dialect::ClientTokens;
use crate::{AppState, ClientIdentity};

/// Marks Herald's own tokens, so other dialects' JWTs are not mistaken for them.
const TOKEN_TYPE: &str = "herald";
const MAX_TTL_SECS: i64 = 365 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct Claims {
    typ: String,
    app: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plt: Option<String>,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct IssueBody {
    user_id: UserId,
    /// The platform the token may connect on; any platform when absent.
    #[serde(default)]
    platform: Option<Platform>,
    /// Lifetime in seconds; the server's `token_ttl_secs` (30 days by default) when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    ttl: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct IssueAnswer {
    /// An HS256 JWT signed with the API key.
    token: String,
    /// When the token expires (unix milliseconds).
    expires_at: i64,
}

/// Mint a client token with which a registered user opens the WebSocket gateway.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    operation_id = "issue_token",
    tag = "tokens",
    request_body = IssueBody,
    responses(
        (status = 200, description = "The token and its expiry.", body = IssueAnswer),
        (status = 400, description = "`invalid_argument` (a `ttl` out of range), `malformed_json`.", body = ErrorBody),
        (status = 404, description = "`user_not_found`.", body = ErrorBody),
        super::openapi::JsonCallErrors,
    )
)]
pub async fn issue(
    State(s): State<AppState>,
    AuthedApp(app): AuthedApp,
    Body(body): Body<IssueBody>,
) -> Result<Json<IssueAnswer>, ApiError> {
    let ttl = body.ttl.unwrap_or(s.config.token_ttl_secs);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::invalid(format!("ttl must be 1..={MAX_TTL_SECS} seconds")));
    }
    // Tokens are for registered users only. (Any node takes the token, so a draining one still mints it.)
    s.herald.user(&app.app_id, &body.user_id).await?;
    let (token, expires_at) = mint(&app, &body.user_id, body.platform, ttl)?;
    Ok(Json(IssueAnswer { token, expires_at }))
}

/// Sign a native token; returns it with its expiry (unix milliseconds).
pub fn mint(
    app: &App,
    user: &UserId,
    platform: Option<Platform>,
    ttl_secs: i64,
) -> Result<(String, i64), herald_core::Error> {
    let now = herald_service::now_millis() / 1000;
    let claims = Claims {
        typ: TOKEN_TYPE.into(),
        app: app.app_id.to_string(),
        sub: user.to_string(),
        plt: platform.map(|p| p.name().to_owned()),
        iat: now,
        exp: now + ttl_secs,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(app.api_key.as_bytes()),
    )
    .map_err(|e| herald_core::Error::unavailable(format!("cannot sign a token: {e}")))?;
    Ok((token, claims.exp * 1000))
}

/// The gateway's verifier of native tokens.
pub struct NativeClientTokens;

#[async_trait]
impl ClientTokens for NativeClientTokens {
    /// `None` if the token is not a native one; otherwise whether it verifies.
    async fn verify(&self, herald: &Herald, token: &str) -> Option<Result<ClientIdentity, String>> {
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
        if claims.typ != TOKEN_TYPE {
            return None;
        }
        Some((|| {
            let app_id = herald_core::AppId::parse(claims.app.clone()).map_err(|e| e.to_string())?;
            let app = herald.apps.get(&app_id).cloned().ok_or("token of an unknown app")?;
            let mut validation = Validation::new(Algorithm::HS256);
            validation.leeway = 0;
            let key = DecodingKey::from_secret(app.api_key.as_bytes());
            let verified = jsonwebtoken::decode::<Claims>(token, &key, &validation)
                .map_err(|e| format!("invalid token: {e}"))?
                .claims;
            let user = UserId::parse(verified.sub).map_err(|e| e.to_string())?;
            let platform = verified.plt.as_deref().map(Platform::from_name).transpose().map_err(|e| e.to_string())?;
            Ok(ClientIdentity { app, user, platform })
        })())
    }
}
