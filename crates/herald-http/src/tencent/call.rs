//! One REST call: `POST /v4/{service}/{command}?sdkappid&identifier&usersig&random&contenttype=json` with a JSON
//! body, answered with HTTP 200 and the `ActionStatus`/`ErrorCode`/`ErrorInfo` envelope whatever happens.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use herald_core::{App, Error, UserId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::{self, Fault, Service};
use crate::rate_limit::AppRateLimits;
use super::usersig;
use crate::AppState;

/// Longest UserID this dialect accepts, in bytes (Tencent's limit; Herald's own is larger).
pub const MAX_USER_ID_BYTES: usize = 32;

/// A route of `service` whose body is `T`, served by `handler`. Authentication, rate limiting, body parsing and
/// the envelope are done here once, so handlers only translate.
pub fn route<T, F, Fut>(service: Service, handler: F) -> MethodRouter<AppState>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(AppState, Arc<App>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Fault>> + Send + 'static,
{
    post(move |State(state): State<AppState>, Extension(limiter): Extension<Arc<AppRateLimits>>, uri: Uri, body: Result<Bytes, BytesRejection>| {
        let handler = handler.clone();
        async move {
            let result = match admit::<T>(&state, &limiter, service, &uri, body) {
                Ok((app, body)) => handler(state, app, body).await,
                Err(fault) => Err(fault),
            };
            envelope(service, result)
        }
    })
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

fn admit<T: DeserializeOwned>(
    state: &AppState,
    limiter: &AppRateLimits,
    service: Service,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Arc<App>, T), Fault> {
    let bad_url = |what: &str| Fault::new(error::BAD_URL_PARAMETERS, format!("invalid URL parameters: {what}"));
    let params: UrlParams = serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|_| bad_url("unreadable query string"))?;
    let sdkappid: u64 = params.sdkappid.as_deref().and_then(|s| s.parse().ok()).ok_or_else(|| bad_url("sdkappid must be a number"))?;
    let identifier = params.identifier.filter(|i| !i.is_empty()).ok_or_else(|| bad_url("identifier is required"))?;
    let sig = params.usersig.filter(|s| !s.is_empty()).ok_or_else(|| bad_url("usersig is required"))?;
    if params.contenttype.as_deref() != Some("json") {
        return Err(bad_url("contenttype must be json"));
    }
    if let Some(random) = &params.random {
        random.parse::<u32>().map_err(|_| bad_url("random must be a 32-bit unsigned integer"))?;
    }
    let (app, credentials) = state
        .herald
        .apps
        .by_tencent_sdkappid(sdkappid)
        .and_then(|app| Some((app.clone(), app.tencent.clone()?)))
        .ok_or_else(|| Fault::new(error::UNKNOWN_SDKAPPID, format!("SDKAppID {sdkappid} does not exist")))?;
    let now = herald_service::now_millis() / 1000;
    usersig::verify(&sig, sdkappid, &credentials.secret_key, &identifier, now).map_err(|e| Fault::from(&e))?;
    if identifier != credentials.admin_identifier {
        return Err(error::admin_required(service));
    }
    // The follow and online-status services are rate limited per app, as Tencent's are.
    if service != Service::Account && !limiter.allow(&app.app_id, app.limits.tencent_requests_per_second) {
        return Err(Fault::new(
            error::RATE_LIMITED,
            format!("REST API call frequency exceeds the limit of {} per second", app.limits.tencent_requests_per_second),
        ));
    }
    let body = body.map_err(|_| Fault::invalid_json())?;
    let value: Value = serde_json::from_slice(&body).map_err(|_| Fault::invalid_json())?;
    if !value.is_object() {
        return Err(Fault::invalid_json());
    }
    let parsed = serde_json::from_value(value).map_err(|e| Fault::of(&Error::invalid("body", e.to_string()), service))?;
    Ok((app, parsed))
}

/// HTTP 200 with the envelope around the payload (an object) or the fault.
fn envelope(service: Service, result: Result<Value, Fault>) -> Response {
    let mut out = match result {
        Ok(payload) => {
            let mut out = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
            if let (Some(out), Value::Object(payload)) = (out.as_object_mut(), payload) {
                out.extend(payload);
            }
            out
        }
        Err(f) => json!({"ActionStatus": "FAIL", "ErrorCode": f.code, "ErrorInfo": f.info}),
    };
    if service == Service::Follow {
        out["ErrorDisplay"] = json!("");
    }
    Json(out).into_response()
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
