//! OpenIM tokens: HS256 JWTs signed with the app's OpenIM secret, carrying upstream's claims (`UserID`,
//! `PlatformID`, `exp`, `nbf`, `iat`) plus the standard `jti`, which upstream's claim type also reads.
//!
//! Like upstream, every token is also recorded server-side, so it can be kicked: a new user token on a platform
//! kicks the older ones of that platform (upstream's default multi-login policy), and a forced logout kicks them
//! all. The record is keyed by `jti`. Verification checks, in upstream's order: shape (1503), signature (1502),
//! expiry (1501), not-before (1504), then the record: unknown (1507), kicked (1506), not matching (1505).
//!
//! No claim names the app: the app is the one whose secret verifies the signature (there is usually one).

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::{Platform, UserId};
use herald_service::{Herald, MultiLogin, SessionHolder};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::{ErrCode, OpenImError};
use super::settings::{OpenImApp, OpenImApps};
use crate::ClientIdentity;
use crate::dialect::ClientTokens;

/// Upstream's default token lifetime: 90 days.
pub const TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;
/// The `PlatformID` of admin tokens: OpenIM's admin pseudo-platform.
pub const ADMIN_PLATFORM_ID: i64 = 10;
/// Upstream back-dates `nbf` by five minutes so that servers with slightly slow clocks accept fresh tokens.
const NOT_BEFORE_SKEW_SECS: i64 = 5 * 60;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "UserID")]
    pub user_id: String,
    #[serde(rename = "PlatformID")]
    pub platform_id: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The key of the server-side record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// A token that passed every check.
pub struct VerifiedToken {
    pub app: Arc<OpenImApp>,
    pub claims: Claims,
    /// The token's user is one of the app's OpenIM admin user IDs.
    pub admin: bool,
}

/// A freshly issued token.
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

/// Open a session for `holder` under upstream's multi-login policy (a user token ends the older tokens of its
/// platform) and sign its token.
pub async fn issue(herald: &Herald, app: &OpenImApp, holder: SessionHolder) -> Result<IssuedToken, OpenImError> {
    let now = herald_service::now_millis() / 1000;
    let expires = now + TOKEN_LIFETIME_SECS;
    let session = herald.open_session(&app.app.app_id, holder, expires * 1000, MultiLogin::OnePerPlatform).await?;
    let claims = Claims {
        user_id: session.user_id.to_string(),
        platform_id: session.platform.map_or(ADMIN_PLATFORM_ID, |p| i64::from(p.id())),
        exp: expires,
        nbf: Some(now - NOT_BEFORE_SKEW_SECS),
        iat: Some(now),
        jti: Some(session.token_id),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(app.settings.secret.as_bytes()),
    )
    .map_err(|e| herald_core::Error::unavailable(format!("cannot sign a token: {e}")))?;
    Ok(IssuedToken { token, claims })
}

/// Verify a token completely: signature, times and the server-side record.
pub async fn verify(herald: &Herald, apps: &OpenImApps, token: &str) -> Result<VerifiedToken, OpenImError> {
    let (app, claims) = verify_signature(apps, token)?;
    if claims.platform_id == 0 {
        // Upstream answers a token without a platform this way.
        return Err(OpenImError::new(ErrCode::TokenNotValidYet, "token carries no PlatformID"));
    }
    let admin = app.settings.is_admin(&claims.user_id);
    let record = herald.session(&app.app.app_id, &token_id(token, &claims)).await?;
    match record {
        None => Err(OpenImError::new(ErrCode::TokenNotExist, "token was not issued by this server")),
        Some(r) if r.kicked => {
            Err(OpenImError::new(ErrCode::TokenKicked, "token was kicked by a newer login or a forced logout"))
        }
        Some(r) => {
            let recorded_platform = r.platform.map_or(ADMIN_PLATFORM_ID, |p| i64::from(p.id()));
            if r.user_id.as_str() != claims.user_id || recorded_platform != claims.platform_id {
                return Err(OpenImError::new(ErrCode::TokenUnknown, "token does not match its record"));
            }
            Ok(VerifiedToken { app, claims, admin })
        }
    }
}

/// The gateway's verifier of OpenIM user tokens.
pub struct OpenImClientTokens(pub Arc<OpenImApps>);

#[async_trait]
impl ClientTokens for OpenImClientTokens {
    /// `None` for tokens that are not OpenIM-shaped, so other APIs can try them.
    async fn verify(&self, herald: &Herald, token: &str) -> Option<Result<ClientIdentity, String>> {
        jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token).ok()?;
        let verified = match verify(herald, &self.0, token).await {
            Ok(v) => v,
            Err(e) => return Some(Err(format!("OpenIM token rejected: {}", e.err_dlt()))),
        };
        if verified.admin || verified.claims.platform_id == ADMIN_PLATFORM_ID {
            return Some(Err("an OpenIM admin token cannot open a client connection".to_owned()));
        }
        Some((|| {
            let user = UserId::parse(verified.claims.user_id).map_err(|e| e.to_string())?;
            let platform = Platform::from_id(verified.claims.platform_id).map_err(|e| e.to_string())?;
            Ok(ClientIdentity { app: verified.app.app.clone(), user, platform: Some(platform) })
        })())
    }
}

/// Check shape, signature and times; find the app whose secret signed the token.
fn verify_signature(apps: &OpenImApps, token: &str) -> Result<(Arc<OpenImApp>, Claims), OpenImError> {
    let malformed = |why: String| OpenImError::new(ErrCode::TokenMalformed, why);
    jsonwebtoken::decode_header(token).map_err(|e| malformed(format!("token is not a JWT: {e}")))?;
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
        .map_err(|e| malformed(format!("token claims are not OpenIM's: {e}")))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    for app in apps.all() {
        let key = DecodingKey::from_secret(app.settings.secret.as_bytes());
        match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => return Ok((app.clone(), data.claims)),
            Err(e) => match e.kind() {
                ErrorKind::InvalidSignature => continue,
                ErrorKind::ExpiredSignature => return Err(OpenImError::new(ErrCode::TokenExpired, "token is expired")),
                ErrorKind::ImmatureSignature => {
                    return Err(OpenImError::new(ErrCode::TokenNotValidYet, "token is not valid yet"));
                }
                ErrorKind::InvalidAlgorithm => {
                    return Err(OpenImError::new(ErrCode::TokenInvalid, "token is not signed with HS256"));
                }
                _ => return Err(malformed(format!("token is malformed: {e}"))),
            },
        }
    }
    Err(OpenImError::new(ErrCode::TokenInvalid, "token signature is invalid"))
}

/// The key of a token's record: its `jti`, or its signature for tokens without one.
fn token_id(token: &str, claims: &Claims) -> String {
    match &claims.jti {
        Some(jti) => jti.clone(),
        None => token.rsplit('.').next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use herald_core::App;
    use herald_service::AppDirectory;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "openim-secret";

    fn apps() -> OpenImApps {
        let config = json!({"app_id": "a", "api_key": "k", "dialects": {"openim": {"secret": SECRET}}});
        let app = App::from_config(config.as_object().unwrap().clone()).unwrap();
        OpenImApps::read(&AppDirectory::new([app]).unwrap()).unwrap()
    }

    fn now() -> i64 {
        herald_service::now_millis() / 1000
    }

    fn sign(claims: &Claims) -> String {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
    }

    fn claims() -> impl Strategy<Value = Claims> {
        ("[^\u{0}]{1,64}", 1i64..=11, 60i64..10_000_000, proptest::option::of("[A-Za-z0-9_-]{1,40}")).prop_map(
            |(user_id, platform_id, ttl, jti)| Claims {
                user_id,
                platform_id,
                exp: now() + ttl,
                nbf: Some(now() - NOT_BEFORE_SKEW_SECS),
                iat: Some(now()),
                jti,
            },
        )
    }

    proptest! {
        #[test]
        fn any_text_is_refused_without_a_panic(text in ".{0,300}") {
            prop_assert!(verify_signature(&apps(), &text).is_err());
        }

        #[test]
        fn any_jwt_shaped_text_is_refused_without_a_panic(
            text in "[A-Za-z0-9_=+/-]{0,80}\\.[A-Za-z0-9_=+/-]{0,200}\\.[A-Za-z0-9_=+/-]{0,60}",
        ) {
            prop_assert!(verify_signature(&apps(), &text).is_err());
        }

        #[test]
        fn signed_claims_verify_to_the_same_claims(claims in claims()) {
            let (_, verified) = verify_signature(&apps(), &sign(&claims)).unwrap();
            prop_assert_eq!(serde_json::to_value(verified).unwrap(), serde_json::to_value(claims).unwrap());
        }

        /// A token has one accepted spelling: no other string (a character changed anywhere, in the header, the
        /// claims or the signature, padding or anything else added) verifies.
        #[test]
        fn only_the_issued_spelling_of_a_token_verifies(
            claims in claims(),
            at in any::<proptest::sample::Index>(),
            replacement in "[A-Za-z0-9_=.+/ -]",
            suffix in "[A-Za-z0-9_=.+/ \n-]{1,3}",
        ) {
            let token = sign(&claims);
            let apps = apps();
            let mut changed = token.clone().into_bytes();
            let i = at.index(changed.len());
            changed[i] = replacement.as_bytes()[0];
            let changed = String::from_utf8(changed).unwrap();
            if changed != token {
                prop_assert!(verify_signature(&apps, &changed).is_err(), "{changed} verified as well as {token}");
            }
            let longer = format!("{token}{suffix}");
            prop_assert!(verify_signature(&apps, &longer).is_err(), "{longer} verified as well as {token}");
            let upper = token.to_ascii_uppercase();
            if upper != token {
                prop_assert!(verify_signature(&apps, &upper).is_err());
            }
        }

        /// The last character of each part carries unused low bits in base64: a lenient decoder would read several
        /// spellings of it as the same bytes. Only the issued one may verify.
        #[test]
        fn the_unused_bits_of_each_part_are_not_a_second_spelling(claims in claims()) {
            let token = sign(&claims);
            let apps = apps();
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let ends: Vec<usize> = token.match_indices('.').map(|(i, _)| i - 1).chain([token.len() - 1]).collect();
            for end in ends {
                for &c in alphabet {
                    let mut other = token.clone().into_bytes();
                    other[end] = c;
                    let other = String::from_utf8(other).unwrap();
                    if other != token {
                        prop_assert!(verify_signature(&apps, &other).is_err(), "{other} verified as well as {token}");
                    }
                }
            }
        }
    }
}
