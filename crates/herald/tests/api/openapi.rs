//! The OpenAPI document of the native API: served without credentials, and identical to the copy committed at
//! `docs/openapi.json`, so a change to the API shows up in review as a change to that file.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::Server;

/// Set to rewrite `docs/openapi.json` from the running server instead of comparing.
const UPDATE: &str = "HERALD_UPDATE_OPENAPI";

fn committed_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test]
async fn the_served_document_is_the_committed_copy() {
    let s = Server::start().await;
    let r = s.http.get(format!("{}/openapi.json", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200, "served without an API key");
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    let served: Value = serde_json::from_str(&text).unwrap();
    assert!(served["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", served["openapi"]);
    let path = committed_copy();
    if std::env::var_os(UPDATE).is_some() {
        // As served, so the file reads in the document's own order.
        std::fs::write(&path, text.trim_end().to_owned() + "\n")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed: Value =
        std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null);
    assert!(
        served == committed,
        "docs/openapi.json is not the document the server serves. If the API change is intended, regenerate it \
         with `{UPDATE}=1 cargo test -p herald --test api openapi` and commit the file."
    );
}
