//! The OpenAPI 3.1 document of the native API, built from the handlers' own annotations and types, and served at
//! `GET /openapi.json`. The router and the document come from one list of routes ([`super::api`]), so a route
//! cannot be served without being described.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use herald_core::Platform;

use super::error::ErrorBody;

/// The parts of the document that no handler carries: the API's title, its security scheme, its tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald native API",
        description = "Presence, status subscriptions and follows. Every `/v1` call takes JSON and \
            `Authorization: Bearer <api_key>`. Errors are `{\"error\":{\"code\",\"message\"}}`; batch calls answer \
            200 with one result per item when only some items fail. Times in answers are unix milliseconds, \
            durations in requests seconds. The WebSocket gateway's frames are described in the README.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(gateway),
    modifiers(&ApiKey),
    security(("api_key" = [])),
    tags(
        (name = "users", description = "Registering, reading and deleting users."),
        (name = "tokens", description = "Client tokens for the WebSocket gateway."),
        (name = "presence", description = "Who is online, reports from the app server, kicks."),
        (name = "subscriptions", description = "Status subscriptions, with optional expiry and limits."),
        (name = "follows", description = "The follow graph: follow, unfollow, relations, counts and lists."),
        (name = "gateway", description = "The WebSocket gateway's handshake."),
        (name = "meta", description = "This document."),
    )
)]
pub struct NativeApi;

/// The app's API key, sent as a bearer token.
struct ApiKey;

impl Modify for ApiKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The app's API key (`api_key` in credentials.json)."))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// Failures any authenticated call may answer besides its own.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum CallErrors {
    /// `unauthenticated`: the API key is missing or unknown.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// `backend_unavailable`: the database, Redis or the bus failed.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// Failures any authenticated call with a JSON body may answer besides its own.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum JsonCallErrors {
    /// `unauthenticated`: the API key is missing or unknown.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// `payload_too_large`: the body is larger than the server's `max_body_bytes`.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// `backend_unavailable`: the database, Redis or the bus failed.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// Open a WebSocket connection as a user: the connection makes the user online on the platform. The frames that
/// follow are described in the README. The gateway takes a client token instead of the API key.
// Described here rather than on its handler, which lives with the gateway's connection loop.
#[utoipa::path(
    get,
    path = "/v1/ws",
    operation_id = "connect",
    tag = "gateway",
    security(()),
    params(
        ("token" = String, Query, description = "A client token: from `POST /v1/tokens`, or one a vendor dialect issued."),
        ("platform" = Option<Platform>, Query, description = "The platform to connect on; required unless the token names one, and must match it if it does."),
        ("background" = Option<bool>, Query, description = "Connect in the background (\"push online\")."),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; the server sends a `connected` frame once the user is online."),
        (status = 400, description = "`invalid_argument`: not a WebSocket handshake, a bad query, or a platform that is unknown or does not match the token's.", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: the token is bad or expired.", body = ErrorBody),
        (status = 404, description = "`user_not_found`: the token's user is not registered.", body = ErrorBody),
        (status = 503, description = "`backend_unavailable`.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn gateway() {}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| super::api().split_for_parts().1);
    &DOCUMENT
}

/// This document, as JSON.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document of the native API.", content_type = "application/json", body = Object))
)]
pub async fn serve() -> impl IntoResponse {
    static JSON: LazyLock<String> =
        LazyLock::new(|| document().to_pretty_json().expect("the OpenAPI document serializes"));
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn json() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = json();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn batch_bounds_are_the_ones_the_handlers_check() {
        use super::super::{follows, presence, subscriptions, users};
        let doc = json();
        let max = |schema: &str, field: &str| {
            let pointer = format!("/components/schemas/{schema}/properties/{field}/maxItems");
            doc.pointer(&pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no {pointer}")) as usize
        };
        assert_eq!(max("RegisterBody", "users"), users::MAX_USERS_PER_CALL);
        assert_eq!(max("DeleteBody", "user_ids"), users::MAX_USERS_PER_CALL);
        assert_eq!(max("QueryBody", "user_ids"), presence::MAX_PRESENCE_QUERY);
        assert_eq!(max("SubscribeBody", "targets"), subscriptions::MAX_TARGETS_PER_CALL);
        assert_eq!(max("UnsubscribeBody", "targets"), subscriptions::MAX_TARGETS_PER_CALL);
        assert_eq!(max("FollowBody", "followees"), follows::MAX_FOLLOWS_PER_CALL);
        assert_eq!(max("CheckBody", "others"), follows::MAX_CHECKS_PER_CALL);
        assert_eq!(max("CountsBody", "user_ids"), follows::MAX_CHECKS_PER_CALL);
    }

    #[test]
    fn every_call_but_the_handshake_and_this_document_needs_the_api_key() {
        let doc = json();
        assert_eq!(doc["security"], serde_json::json!([{"api_key": []}]));
        let open: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().values().map(move |op| (path, op)))
            .filter(|(_, op)| op.get("security").is_some())
            .map(|(path, _)| path.as_str())
            .collect();
        assert_eq!(open, ["/openapi.json", "/v1/ws"]);
    }
}
