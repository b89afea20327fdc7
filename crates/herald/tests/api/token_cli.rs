//! `herald token` from the command line: it reads an existing installation, prints the token alone on stdout, and
//! creates nothing unless `--init` asks for it.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Options, Server};
use serde_json::json;

/// Run `herald token ARGS` in `dir`, with no `HERALD_*` setting from the test's environment.
fn herald_token(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.arg("token").args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") {
            cmd.env_remove(name);
        }
    }
    cmd.output().expect("run herald token")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one line of stdout of a successful run.
fn token_of(out: &Output) -> String {
    assert!(out.status.success(), "herald token failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {stdout:?}");
    assert!(!lines[0].is_empty() && !lines[0].contains(char::is_whitespace), "{stdout:?}");
    lines[0].to_owned()
}

fn assert_fails(out: &Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected a failure; stdout {:?}", text(&out.stdout));
    assert!(out.stdout.is_empty(), "nothing on stdout when it fails: {:?}", text(&out.stdout));
    for needle in needles {
        assert!(stderr.contains(needle), "stderr should mention {needle:?}: {stderr}");
    }
}

#[tokio::test]
async fn prints_only_the_token_of_a_registered_user() {
    let root = tempfile::tempdir().unwrap();
    let s = Server::start_with(Options { data: Some(root.path().join("herald-data")), ..Options::default() }).await;
    s.register(&["alice"]).await;
    // Where the server runs, ./herald-data is the default data folder; elsewhere --data names it.
    let token = token_of(&herald_token(root.path(), &["--user", "alice", "--platform", "web"]));
    let mut ws = s.connect_with_token(&token, "web").await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv().await["type"], "pong");
    let elsewhere = tempfile::tempdir().unwrap();
    let data = s.data.to_str().unwrap();
    let token = token_of(&herald_token(elsewhere.path(), &["--data", data, "--user", "alice"]));
    s.connect_with_token(&token, "ios").await;

    let usersig = token_of(&herald_token(root.path(), &["--tencent", "--user", "alice"]));
    s.connect_with_token(&usersig, "android").await;
    token_of(&herald_token(root.path(), &["--tencent"]));
}

#[tokio::test]
async fn fails_for_users_that_are_not_registered() {
    let s = Server::start().await;
    s.register(&["alice"]).await;
    let data = s.data.to_str().unwrap();
    assert_fails(&herald_token(&s.data, &["--data", data, "--user", "ghost"]), &["ghost", "not registered"]);
    assert_fails(
        &herald_token(&s.data, &["--data", data, "--tencent", "--user", "ghost"]),
        &["ghost", "not registered"],
    );
}

#[tokio::test]
async fn refuses_a_data_folder_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = herald_token(dir.path(), &["--data", missing.to_str().unwrap(), "--user", "alice"]);
    assert_fails(&out, &["nowhere", "does not exist", "--init"]);
    assert!(!missing.exists(), "no data folder is created");
    let out = herald_token(dir.path(), &["--user", "alice"]);
    assert_fails(&out, &["herald-data", "does not exist"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is created");
}

#[tokio::test]
async fn refuses_a_data_folder_without_a_database() {
    // A cluster node's data folder holds credentials.json but no database: without --database-url, `herald token`
    // must say so rather than start an embedded database there.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.json"), "{}").unwrap();
    let out = herald_token(dir.path(), &["--data", dir.path().to_str().unwrap(), "--user", "alice"]);
    assert_fails(&out, &["holds no database", "--database-url"]);
    assert!(!dir.path().join("herald.db").exists(), "no stray database file");
}

#[tokio::test]
async fn init_creates_an_installation_and_announces_it_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let data_arg = data.to_str().unwrap();
    // Nobody is registered in a new installation, so a user's token fails, but the installation is made.
    let out = herald_token(dir.path(), &["--init", "--data", data_arg, "--user", "alice"]);
    assert_fails(&out, &["alice", "not registered"]);
    assert!(text(&out.stderr).contains("Created app 'default'"), "{}", text(&out.stderr));
    assert!(data.join("herald.db").is_file() && data.join("credentials.json").is_file());

    // The administrator's UserSig needs no registered user; the installation is the one just made.
    let out = herald_token(dir.path(), &["--data", data_arg, "--tencent"]);
    token_of(&out);
    assert!(!text(&out.stderr).contains("Created app"), "{}", text(&out.stderr));

    // A server started on that folder serves the same app.
    let s = Server::start_with(Options { data: Some(data.clone()), ..Options::default() }).await;
    s.register(&["alice"]).await;
    let token = token_of(&herald_token(dir.path(), &["--data", data_arg, "--user", "alice"]));
    s.connect_with_token(&token, "web").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_DATABASE_URL"]
async fn cluster_mode_reads_the_database_and_leaves_the_data_folder_alone() {
    let url = std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("HERALD_TEST_DATABASE_URL is not set: this test needs a PostgreSQL database, named by the URL")
    });
    let schema = format!("herald_token_{}", std::process::id());
    let s = Server::start_with(Options {
        database_url: Some(url.clone()),
        database_schema: Some(schema.clone()),
        ..Options::default()
    })
    .await;
    s.register(&["alice"]).await;
    let node_data = s.data.to_str().unwrap();
    let settings = ["--database-url", url.as_str(), "--database-schema", schema.as_str()];

    let out = herald_token(&s.data, &[&settings[..], &["--data", node_data, "--user", "alice"]].concat());
    let token = token_of(&out);
    s.connect_with_token(&token, "web").await;
    assert_fails(
        &herald_token(&s.data, &[&settings[..], &["--data", node_data, "--user", "ghost"]].concat()),
        &["ghost", "not registered"],
    );
    assert!(!s.data.join("herald.db").exists(), "no stray embedded database");
    // The database is the authority: a node's data folder is not even needed.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = herald_token(elsewhere.path(), &[&settings[..], &["--user", "alice"]].concat());
    token_of(&out);
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing is created");

    drop(s);
    if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}
