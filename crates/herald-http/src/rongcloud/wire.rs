//! How RongCloud carries a call: a form post signed for the app (see [`super::auth`]), answered with
//! `{"code":200,...}`, or with an error in the codes of the route's [`Family`] and the HTTP status of that code.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_core::Error;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::auth;
use super::error::{Family, RcError};
use super::settings::{RongCloudApp, RongCloudApps};
use crate::AppState;
use crate::dialect::Wire;
use crate::rate_limit::AppRateLimits;

/// The RongCloud apps and their rate limiter.
#[derive(Clone)]
pub struct RongCloudWire {
    pub apps: Arc<RongCloudApps>,
    pub limits: Arc<AppRateLimits>,
}

impl Wire<Family> for RongCloudWire {
    type Caller = Arc<RongCloudApp>;
    type Reply = Value;
    type Fault = RcError;

    async fn authenticate(&self, _: Family, _: &AppState, request: &Parts) -> Result<Arc<RongCloudApp>, RcError> {
        auth::authenticate(&self.apps, &self.limits, &request.headers)
    }

    /// An `application/x-www-form-urlencoded` body; a missing, blank or oversized one has its own code.
    fn parse<T: DeserializeOwned>(&self, _: Family, body: Result<Bytes, BytesRejection>) -> Result<T, RcError> {
        let bytes = body.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                RcError::too_long("the request body is too large")
            } else {
                RcError::no_post_data()
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(RcError::no_post_data());
        }
        serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| RcError::domain(Error::invalid("body", format!("not a form: {e}")), Family::General))
    }

    /// A payload may carry its own `code`: a subscription that left out targets at their limit is still answered
    /// with HTTP 200, as code 26021.
    fn answer(&self, family: Family, result: Result<Value, RcError>) -> Response {
        match result {
            Ok(payload) => {
                let mut out = json!({"code": 200});
                if let (Some(out), Value::Object(payload)) = (out.as_object_mut(), payload) {
                    out.extend(payload);
                }
                Json(out).into_response()
            }
            Err(e) => e.answer(family),
        }
    }

    fn wrong_method(&self, _: Family, method: &Method) -> RcError {
        RcError::wrong_method(method)
    }
}
