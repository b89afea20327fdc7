//! What every OpenIM call carries: the `operationID` header (checked by a middleware for every route), the `token`
//! header (every route but `/auth/get_admin_token` and `/auth/parse_token`) and a JSON body. Their rejections are
//! upstream's errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderName;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_core::{App, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tracing::Instrument;

use super::error::{ErrCode, OpenImError};
use super::token;
use crate::AppState;

/// Upstream's header names (HTTP header names are case-insensitive; `http` keeps them lower-case).
pub const OPERATION_ID: HeaderName = HeaderName::from_static("operationid");
pub const TOKEN: HeaderName = HeaderName::from_static("token");

/// Most user IDs one list-taking call accepts (upstream has no bound; a larger batch gets ArgsError here).
pub const MAX_USER_IDS: usize = 500;
/// Most users one `user_register` call may carry.
pub const MAX_USERS_PER_REGISTER: usize = 1000;

/// Require `operationID`, run the call inside a span that carries it, and echo it in the response header.
pub async fn operation_id(req: Request, next: Next) -> Response {
    let Some(id) = req.headers().get(&OPERATION_ID).filter(|v| !v.is_empty()).cloned() else {
        return OpenImError::args("header must have operationID").into_response();
    };
    let span = tracing::info_span!(
        "openim",
        operation_id = %String::from_utf8_lossy(id.as_bytes()),
        path = %req.uri().path(),
    );
    let mut response = next.run(req).instrument(span).await;
    response.headers_mut().insert(OPERATION_ID, id);
    response
}

/// The verified `token` header: which app, which user, and whether that user is one of the app's admins.
pub struct Caller {
    pub app: Arc<App>,
    pub user_id: String,
    pub admin: bool,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = OpenImError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpenImError> {
        let token = parts
            .headers
            .get(&TOKEN)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OpenImError::args("header must have token"))?;
        let token = token.to_str().map_err(|_| OpenImError::new(ErrCode::TokenMalformed, "token is not text"))?;
        let verified = token::verify(&state.herald, token).await?;
        Ok(Caller { app: verified.app, user_id: verified.claims.user_id, admin: verified.admin })
    }
}

impl Caller {
    /// Upstream's `CheckAdmin`.
    pub fn require_admin(&self) -> Result<(), OpenImError> {
        if self.admin {
            Ok(())
        } else {
            Err(OpenImError::no_permission(format!("user {} is not an app manager", self.user_id)))
        }
    }

    /// A user token acts only for its own user; an admin token acts for anyone.
    pub fn require_self_or_admin(&self, user_id: &str) -> Result<(), OpenImError> {
        if self.admin || self.user_id == user_id {
            Ok(())
        } else {
            Err(OpenImError::no_permission(format!("user {} cannot act for user {user_id}", self.user_id)))
        }
    }
}

/// A JSON body, read whatever the `Content-Type` (upstream does not look at it).
pub struct OpenImJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OpenImJson<T> {
    type Rejection = OpenImError;

    async fn from_request(req: Request, state: &S) -> Result<Self, OpenImError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| OpenImError::args(format!("cannot read the body: {}", r.body_text())))?;
        serde_json::from_slice(&bytes)
            .map(OpenImJson)
            .map_err(|e| OpenImError::args(format!("the body is not this call's JSON: {e}")))
    }
}

/// Deserialize `null` as the zero value, as upstream's decoder does.
pub fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A user ID from field `field`, with upstream's wording for an empty one.
pub fn user_id(raw: &str, field: &str) -> Result<UserId, OpenImError> {
    if raw.is_empty() {
        return Err(OpenImError::args(format!("{field} is empty")));
    }
    UserId::parse(raw).map_err(|e| OpenImError::args(format!("{field} {raw:?} is not a valid user ID: {e}")))
}

/// A non-empty list of at most `max` user IDs from field `field`.
pub fn user_ids(raw: &[String], field: &str, max: usize) -> Result<Vec<UserId>, OpenImError> {
    if raw.is_empty() {
        return Err(OpenImError::args(format!("{field} is empty")));
    }
    if raw.len() > max {
        return Err(OpenImError::args(format!("{field} holds {} IDs; at most {max} per call", raw.len())));
    }
    raw.iter().map(|id| user_id(id, field)).collect()
}
