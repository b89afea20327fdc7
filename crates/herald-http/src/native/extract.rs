//! Extractors of the native API, whose rejections speak the native error format.

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use herald_core::paging::{CursorKey, PageRequest};
use herald_core::{App, UserId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::error::{ApiError, Code};
use crate::AppState;

/// A JSON body; malformed, oversized or mistyped bodies become native errors.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let (status, code) = match &r {
        // Well-formed JSON whose values break a rule (an empty user ID, an unknown platform).
        JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, Code::InvalidArgument),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, Code::MalformedJson),
        JsonRejection::MissingJsonContentType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::UnsupportedMediaType),
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, Code::PayloadTooLarge),
        _ => (StatusCode::BAD_REQUEST, Code::MalformedJson),
    };
    ApiError::coded(status, code, r.body_text())
}

/// Query parameters with native errors.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| ApiError::invalid(r.body_text()))
    }
}

/// The user ID a route's path names (`/v1/users/{user_id}/...`); an unreadable or invalid one is a native error.
pub struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|r: PathRejection| ApiError::invalid(format!("user_id in the path: {}", r.body_text())))?;
        Ok(UserPath(UserId::parse(raw)?))
    }
}

/// The app whose API key is in `Authorization: Bearer`.
pub struct AuthedApp(pub Arc<App>);

impl FromRequestParts<AppState> for AuthedApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthenticated = |m: &str| ApiError::coded(StatusCode::UNAUTHORIZED, Code::Unauthenticated, m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("missing Authorization: Bearer <api key>"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("Authorization must be 'Bearer <api key>'"))?;
        state
            .herald
            .apps
            .by_api_key(key.trim())
            .cloned()
            .map(AuthedApp)
            .ok_or_else(|| unauthenticated("unknown API key"))
    }
}

/// `?cursor=&limit=` of the paged lists.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Where the page starts: the `next_cursor` of the page before; absent or empty for the first page.
    pub cursor: Option<String>,
    /// Most items on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

impl PageParams {
    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::invalid(format!("limit must be 1..={MAX_PAGE}")));
        }
        Ok(PageRequest { after: CursorKey::decode_opt(self.cursor.as_deref())?, limit })
    }
}

/// Reject an empty batch or one larger than `max`.
pub fn check_batch<T>(items: &[T], field: &str, max: usize) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    if items.len() > max {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            Code::TooManyItems,
            format!("{field} holds {} items; at most {max} per call", items.len()),
        ));
    }
    Ok(())
}

/// Parse a URI's query string into `T`, with native errors (for handlers that need the raw URI).
pub fn extract_query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, ApiError> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|e| ApiError::invalid(format!("bad query: {e}")))
}
