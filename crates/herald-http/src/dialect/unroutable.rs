//! Requests that reach no handler: a path no route matches, or a method a route does not take. Under a dialect's
//! paths they are answered in that dialect's envelope and codes, as its clients parse every answer that way; any
//! other path gets the native API's `not_found`.

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::DIALECTS;

/// The text of a wrong-method answer; every dialect route takes POST only.
pub fn wrong_method_message(method: &Method) -> String {
    format!("this route only serves POST, not {method}")
}

/// The text of an unknown-route answer; the path as the request wrote it (percent-encoding kept, so a path that is
/// not UTF-8 once decoded is shown as sent).
pub fn no_such_route_message(path: &str) -> String {
    format!("no such route: {path}")
}

/// The router's fallback: the dialect whose paths these are answers, else the native API.
pub async fn unknown_route(request: Request) -> Response {
    let (head, _) = request.into_parts();
    match DIALECTS.iter().find_map(|d| d.unknown_route(&head)) {
        Some(answer) => answer,
        None => crate::native::error::not_found().await.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn claimants(path: &str) -> Vec<&'static str> {
        let (head, ()) = Request::builder().uri(path).body(()).unwrap().into_parts();
        DIALECTS.iter().filter(|d| d.unknown_route(&head).is_some()).map(|d| d.name()).collect()
    }

    #[test]
    fn each_unknown_path_has_at_most_one_dialect() {
        let cases = [
            ("/auth/nope", vec!["openim"]),
            ("/user/nope", vec!["openim"]),
            ("/user/nope.json", vec!["rongcloud"]),
            ("/user/subscribe/nope.json", vec!["rongcloud"]),
            ("/v4/nope/nope", vec!["tencent"]),
            ("/v4/user/x.json", vec!["tencent"]),
            ("/v1/nope", vec![]),
            ("/v1/users/x/nope.json", vec![]),
            ("/nope", vec![]),
            ("/authx", vec![]),
            ("/v4x/y", vec![]),
        ];
        for (path, expected) in cases {
            assert_eq!(claimants(path), expected, "{path}");
        }
    }
}
