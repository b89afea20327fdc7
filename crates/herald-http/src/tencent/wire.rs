//! One REST call: `POST /v4/{service}/{command}?sdkappid&identifier&usersig&random&contenttype=json` with a JSON
//! body, answered with HTTP 200 and the `ActionStatus`/`ErrorCode`/`ErrorInfo` envelope whatever happens; and the
//! values its bodies carry.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use herald_core::{App, Error, UserId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::{self, Fault, Service};
use super::settings::TencentApps;
use super::usersig;
use crate::AppState;
use crate::dialect::{Wire, unroutable};
use crate::rate_limit::AppRateLimits;

/// Longest UserID this dialect accepts, in bytes (Tencent's limit; Herald's own is larger).
pub const MAX_USER_ID_BYTES: usize = 32;

/// How Tencent carries a call: the app's administrator, named in the URL and proven by a UserSig, calls a route of
/// a [`Service`], which decides the codes of its errors. Holds the Tencent apps and their rate limiter.
#[derive(Clone)]
pub struct TencentWire {
    pub apps: Arc<TencentApps>,
    pub limits: Arc<AppRateLimits>,
}

/// The URL parameters every call carries. All optional here so that a missing one gets Tencent's error, not
/// axum's.
#[derive(Deserialize)]
struct UrlParams {
    sdkappid: Option<String>,
    identifier: Option<String>,
    usersig: Option<String>,
    random: Option<String>,
    contenttype: Option<String>,
}

impl Wire<Service> for TencentWire {
    type Caller = Arc<App>;
    type Reply = Value;
    type Fault = Fault;

    async fn authenticate(&self, service: Service, _: &AppState, request: &Parts) -> Result<Arc<App>, Fault> {
        let bad_url = |what: &str| Fault::new(error::BAD_URL_PARAMETERS, format!("invalid URL parameters: {what}"));
        let params: UrlParams = serde_urlencoded::from_str(request.uri.query().unwrap_or(""))
            .map_err(|_| bad_url("unreadable query string"))?;
        let sdkappid: u64 = params
            .sdkappid
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_url("sdkappid must be a number"))?;
        let identifier =
            params.identifier.filter(|i| !i.is_empty()).ok_or_else(|| bad_url("identifier is required"))?;
        let sig = params.usersig.filter(|s| !s.is_empty()).ok_or_else(|| bad_url("usersig is required"))?;
        if params.contenttype.as_deref() != Some("json") {
            return Err(bad_url("contenttype must be json"));
        }
        if let Some(random) = &params.random {
            random.parse::<u32>().map_err(|_| bad_url("random must be a 32-bit unsigned integer"))?;
        }
        let tc = self
            .apps
            .by_sdkappid(sdkappid)
            .ok_or_else(|| Fault::new(error::UNKNOWN_SDKAPPID, format!("SDKAppID {sdkappid} does not exist")))?;
        let credentials = &tc.settings;
        let now = herald_service::now_millis() / 1000;
        usersig::verify(&sig, sdkappid, &credentials.secret_key, &identifier, now).map_err(|e| Fault::from(&e))?;
        if identifier != credentials.admin_identifier {
            return Err(error::admin_required(service));
        }
        // The follow and online-status services are rate limited per app, as Tencent's are.
        let per_second = credentials.requests_per_second;
        if service != Service::Account && !self.limits.allow(&tc.app.app_id, per_second) {
            return Err(Fault::new(
                error::RATE_LIMITED,
                format!("REST API call frequency exceeds the limit of {per_second} per second"),
            ));
        }
        Ok(tc.app.clone())
    }

    /// Any body that is not a JSON object is 90001; an object with the wrong fields is the service's argument error.
    fn parse<T: DeserializeOwned>(&self, _: Service, body: Result<Bytes, BytesRejection>) -> Result<T, Fault> {
        let body = body.map_err(|_| Fault::invalid_json())?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| Fault::invalid_json())?;
        if !value.is_object() {
            return Err(Fault::invalid_json());
        }
        serde_json::from_value(value).map_err(|e| Fault::Domain(Error::invalid("body", e.to_string())))
    }

    /// HTTP 200 with the envelope around the payload (an object) or the fault.
    fn answer(&self, service: Service, result: Result<Value, Fault>) -> Response {
        let mut out = match result {
            Ok(payload) => {
                let mut out = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
                if let (Some(out), Value::Object(payload)) = (out.as_object_mut(), payload) {
                    out.extend(payload);
                }
                out
            }
            Err(fault) => {
                let (code, info) = fault.resolve(service);
                failure(code, &info)
            }
        };
        if service == Service::Follow {
            out["ErrorDisplay"] = json!("");
        }
        Json(out).into_response()
    }

    fn wrong_method(&self, _: Service, method: &Method) -> Fault {
        Fault::new(error::UNROUTABLE, unroutable::wrong_method_message(method))
    }
}

fn failure(code: i64, info: &str) -> Value {
    json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
}

/// The answer to a path under `/v4/` that names no route. Its service is unknown, so it has no `ErrorDisplay`.
pub fn no_such_route(path: &str) -> Response {
    Json(failure(error::UNROUTABLE, &unroutable::no_such_route_message(path))).into_response()
}

/// A UserID of this dialect: Herald's rules plus Tencent's 32-byte limit.
pub fn user_id(raw: &str) -> Result<UserId, Error> {
    if raw.len() > MAX_USER_ID_BYTES {
        return Err(Error::invalid("UserID", format!("{raw:?} is longer than {MAX_USER_ID_BYTES} bytes")));
    }
    UserId::parse(raw)
}

/// Reject an empty list or one longer than `max`.
pub fn check_batch<T>(items: &[T], field: &'static str, max: usize) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if items.len() > max {
        return Err(Error::TooMany { what: field, max });
    }
    Ok(())
}
