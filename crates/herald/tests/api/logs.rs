//! Logs: a filter that does not parse refuses to start, JSON lines for machines carry the request's ID (and
//! OpenIM's operationID), every answer echoes its request ID, and a log written to a pipe has no colour codes.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Options, Server, refused_config};

/// `herald serve` with these extra arguments and environment, expected to refuse; returns its stderr.
fn refused_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data.path()).args(args);
    cmd.env_remove("HERALD_CONFIG").env_remove("HERALD_LOG").env_remove("HERALD_LOG_FORMAT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run herald");
    assert!(!out.status.success(), "herald started with {args:?} {env:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_invalid_log_filter_refuses_to_start_and_names_the_filter() {
    let said = refused_with(&["--log", "herald=loudest"], &[]);
    assert!(said.contains("invalid log filter \"herald=loudest\""), "{said}");
    let said = refused_with(&[], &[("HERALD_LOG", "info,tower_http=chatty")]);
    assert!(said.contains("invalid log filter \"info,tower_http=chatty\""), "{said}");
    let said = refused_config("log = \"=debug=\"\n");
    assert!(said.contains("invalid log filter \"=debug=\""), "{said}");
}

#[test]
fn an_unknown_log_format_refuses_to_start() {
    let said = refused_with(&["--log-format", "xml"], &[]);
    assert!(said.contains("log_format must be \"text\" or \"json\", not \"xml\""), "{said}");
    let said = refused_config("log_format = \"yaml\"\n");
    assert!(said.contains("not \"yaml\""), "{said}");
}

async fn json_logging_server() -> Server {
    Server::start_with(Options {
        env: vec![("HERALD_LOG".into(), "info,tower_http=debug".into()), ("HERALD_LOG_FORMAT".into(), "json".into())],
        capture_stderr: true,
        ..Options::default()
    })
    .await
}

/// The log lines so far, each parsed; a line that is not JSON fails the test.
fn json_lines(s: &Server) -> Vec<Value> {
    s.stderr
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .collect()
}

/// A field of the innermost span of a line that has it.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    line["spans"].as_array()?.iter().rev().find_map(|span| span[field].as_str())
}

/// Wait until a line satisfying `pred` has been logged (lines are read from a pipe, a little after the fact).
async fn logged(s: &Server, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines = json_lines(s);
        if lines.iter().any(&pred) || tokio::time::Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn json_log_lines_carry_the_request_id() {
    let s = json_logging_server().await;
    s.register(&["bob"]).await;
    let r = s
        .http
        .post(format!("{}/v1/connections/kick", s.base))
        .bearer_auth(&s.api_key)
        .header("x-request-id", "kick-7f3a")
        .json(&json!({"user_id": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "kick-7f3a", "the answer echoes the request ID");

    let lines = logged(&s, |l| {
        l["fields"]["message"] == "finished processing request" && span_field(l, "request_id") == Some("kick-7f3a")
    })
    .await;
    let of_request: Vec<&Value> =
        lines.iter().filter(|l| span_field(l, "path") == Some("/v1/connections/kick")).collect();
    let messages: Vec<&str> = of_request.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    assert!(messages.contains(&"kicked a user's connections"), "the kick is logged at info: {messages:?}");
    assert!(messages.contains(&"finished processing request"), "{messages:?}");
    for line in of_request {
        assert_eq!(span_field(line, "request_id"), Some("kick-7f3a"), "{line}");
    }
    let kick = lines.iter().find(|l| l["fields"]["message"] == "kicked a user's connections").unwrap();
    assert_eq!((kick["level"].as_str(), kick["fields"]["user"].as_str()), (Some("INFO"), Some("bob")), "{kick}");
}

#[tokio::test]
async fn a_request_without_a_usable_id_gets_a_generated_one() {
    let s = Server::start().await;
    let url = format!("{}/healthz", s.base);
    let generated = s.http.get(&url).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = s.http.get(&url).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id, "one per request");
    for unusable in ["two words", &"x".repeat(37)] {
        let odd = s.http.get(&url).header("x-request-id", unusable).send().await.unwrap();
        let replaced = odd.headers()["x-request-id"].to_str().unwrap();
        assert!(replaced.len() == 36 && replaced != unusable, "{unusable:?} is replaced: {replaced}");
    }
    // Also on answers that are errors, and on routes that do not exist.
    let missing = s.http.get(format!("{}/nowhere", s.base)).header("x-request-id", "r-404").send().await.unwrap();
    assert_eq!((missing.status().as_u16(), missing.headers()["x-request-id"].to_str().unwrap()), (404, "r-404"));
}

#[tokio::test]
async fn openim_calls_log_their_operation_id() {
    let s = json_logging_server().await;
    let r = s
        .http
        .post(format!("{}/auth/get_admin_token", s.base))
        .header("operationID", "op-logs-9")
        .header("x-request-id", "req-openim-9")
        .json(&json!({"secret": "wrong", "userID": "imAdmin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-openim-9");
    let lines = logged(&s, |l| span_field(l, "request_id") == Some("req-openim-9")).await;
    let line = lines.iter().find(|l| span_field(l, "request_id") == Some("req-openim-9")).expect("a line");
    assert_eq!(span_field(line, "operation_id"), Some("op-logs-9"), "{line}");
}

#[tokio::test]
async fn a_log_written_to_a_pipe_has_no_colour_codes() {
    let s = Server::start_with(Options {
        env: vec![("HERALD_LOG".into(), "info,tower_http=debug".into())],
        capture_stderr: true,
        ..Options::default()
    })
    .await;
    s.register(&["alice"]).await;
    let ws = s.connect("alice", "web").await;
    ws.close().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s.stderr.contains("connection closed") {
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", s.stderr.lines());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lines = s.stderr.lines();
    assert!(lines.iter().any(|l| l.contains("herald is ready")), "{lines:#?}");
    let coloured: Vec<&String> = lines.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(coloured.is_empty(), "escape codes in a piped log: {coloured:#?}");
    // The connection's life is logged with who, where and why.
    let closed = lines.iter().find(|l| l.contains("connection closed")).unwrap();
    for field in ["user=alice", "platform=\"web\"", "cause=\"client\"", "duration_ms=", "node=node-"] {
        assert!(closed.contains(field), "{field} in {closed}");
    }
}
