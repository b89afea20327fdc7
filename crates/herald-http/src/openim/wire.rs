//! How OpenIM carries a call: a JSON body (whatever the `Content-Type`, as upstream does not look at it), the
//! `operationID` header on every route, and the `token` header on every route but `/auth/get_admin_token` and
//! `/auth/parse_token`; answered with HTTP 200 and upstream's envelope, errors included. Also the values its
//! bodies carry.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{HeaderName, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_core::{App, Error, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use tracing::Instrument;

use super::error::{ErrCode, OpenImError};
use super::settings::{OpenImApp, OpenImApps};
use super::token;
use crate::AppState;
use crate::dialect::{Wire, unroutable};

/// Upstream's header names (HTTP header names are case-insensitive; `http` keeps them lower-case).
pub const OPERATION_ID: HeaderName = HeaderName::from_static("operationid");
pub const TOKEN: HeaderName = HeaderName::from_static("token");

/// Most user IDs one list-taking call accepts (upstream has no bound; a larger batch gets ArgsError here).
pub const MAX_USER_IDS: usize = 500;
/// Most users one `user_register` call may carry.
pub const MAX_USERS_PER_REGISTER: usize = 1000;

/// The OpenIM apps. Routes are of two kinds, [`WithToken`] and [`WithoutToken`], each with its own caller.
#[derive(Clone)]
pub struct OpenImWire {
    pub apps: Arc<OpenImApps>,
}

/// A route called with a `token` header; its handler gets the verified [`Caller`].
#[derive(Clone, Copy)]
pub struct WithToken;

/// A route called without a token: the body names the app (`get_admin_token`) or is the token (`parse_token`),
/// so its handler gets every OpenIM app to look in.
#[derive(Clone, Copy)]
pub struct WithoutToken;

/// The verified `token` header: which app, which user, and whether that user is one of the app's admins.
pub struct Caller {
    pub app: Arc<App>,
    /// The app's OpenIM settings.
    pub openim: Arc<OpenImApp>,
    pub user_id: String,
    pub admin: bool,
}

impl Wire<WithToken> for OpenImWire {
    type Caller = Caller;
    type Reply = Reply;
    type Fault = OpenImError;

    async fn authenticate(&self, _: WithToken, state: &AppState, request: &Parts) -> Result<Caller, OpenImError> {
        let token = request
            .headers
            .get(&TOKEN)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OpenImError::args("header must have token"))?;
        let token = token.to_str().map_err(|_| OpenImError::new(ErrCode::TokenMalformed, "token is not text"))?;
        let verified = token::verify(&state.herald, &self.apps, token).await?;
        let app = verified.app.app.clone();
        Ok(Caller { app, openim: verified.app, user_id: verified.claims.user_id, admin: verified.admin })
    }

    fn parse<T: DeserializeOwned>(&self, _: WithToken, body: Result<Bytes, BytesRejection>) -> Result<T, OpenImError> {
        json_body(body)
    }

    fn answer(&self, _: WithToken, result: Result<Reply, OpenImError>) -> Response {
        answer(result)
    }

    fn wrong_method(&self, _: WithToken, method: &Method) -> OpenImError {
        wrong_method(method)
    }
}

impl Wire<WithoutToken> for OpenImWire {
    type Caller = Arc<OpenImApps>;
    type Reply = Reply;
    type Fault = OpenImError;

    async fn authenticate(&self, _: WithoutToken, _: &AppState, _: &Parts) -> Result<Arc<OpenImApps>, OpenImError> {
        Ok(self.apps.clone())
    }

    fn parse<T: DeserializeOwned>(
        &self,
        _: WithoutToken,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<T, OpenImError> {
        json_body(body)
    }

    fn answer(&self, _: WithoutToken, result: Result<Reply, OpenImError>) -> Response {
        answer(result)
    }

    fn wrong_method(&self, _: WithoutToken, method: &Method) -> OpenImError {
        wrong_method(method)
    }
}

/// Upstream has no code for a request its router cannot serve; ArgsError is the nearest: the request is not a
/// valid call.
fn wrong_method(method: &Method) -> OpenImError {
    OpenImError::args(unroutable::wrong_method_message(method))
}

/// The answer to a path under OpenIM's routes that names none of them, with the `operationID` echoed as on every
/// OpenIM answer.
pub fn no_such_route(request: &Parts) -> Response {
    let mut response = OpenImError::args(unroutable::no_such_route_message(request.uri.path())).into_response();
    if let Some(id) = request.headers.get(&OPERATION_ID) {
        response.headers_mut().insert(OPERATION_ID, id.clone());
    }
    response
}

fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, OpenImError> {
    let bytes = body.map_err(|r| OpenImError::args(format!("cannot read the body: {}", r.body_text())))?;
    serde_json::from_slice(&bytes).map_err(|e| OpenImError::args(format!("the body is not this call's JSON: {e}")))
}

fn answer(result: Result<Reply, OpenImError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

/// What a handler returns.
pub type OpenImResult = Result<Reply, OpenImError>;

/// The `data` of a success answer, written by the handler that made it so that every handler returns one type,
/// and kept as written so its fields stay in their declared order. Upstream leaves `data` out when the answer has
/// no fields (register, force logout), so [`Reply::empty`] does too.
pub struct Reply(Option<Box<RawValue>>);

impl Reply {
    pub fn data(data: impl Serialize) -> OpenImResult {
        let raw = serde_json::value::to_raw_value(&data)
            .map_err(|e| Error::unavailable(format!("cannot write the answer: {e}")))?;
        Ok(Self(Some(raw)))
    }

    pub fn empty() -> Self {
        Self(None)
    }
}

/// `{"errCode":0,"errMsg":"","errDlt":"","data":...}`.
#[derive(Serialize)]
struct Envelope {
    #[serde(rename = "errCode")]
    err_code: u32,
    #[serde(rename = "errMsg")]
    err_msg: &'static str,
    #[serde(rename = "errDlt")]
    err_dlt: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Box<RawValue>>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        Json(Envelope { err_code: 0, err_msg: "", err_dlt: "", data: self.0 }).into_response()
    }
}

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
