//! The README's examples of the native API, run as a reader pastes them, so the reference cannot drift from the
//! server.
//!
//! The `sh` blocks of its "Using the native API" section run in order, in one bash session (the reader's first
//! shell) whose working folder holds the `herald-data` of a freshly started server, as after the quick start. The
//! README's address (port 7400) is replaced by the test server's. In those blocks:
//! - a line `# -> JSON` is what the command above prints; the documented JSON is compared with the printed one by
//!   shape: the same keys, the same array lengths, equal booleans and nulls, numbers for numbers, and equal strings,
//!   except that a documented string ending in `...` stands for any string that starts like it;
//! - a line `# <- JSON` is a frame the open WebSocket client receives, compared the same way;
//! - lines `#` followed by two or more spaces continue the JSON above them;
//! - a `websocat URL` line opens the WebSocket client (this test plays it with its own client); the lines after it
//!   in that block are the session: `{...}` lines are frames the reader types, `# <-` lines what comes back.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{Options, Server, Ws};
use serde_json::Value;

const SECTION: &str = "## Using the native API";
/// The address the README's examples use: the quick start's default.
const README_ADDRESSES: [&str; 2] = ["localhost:7400", "127.0.0.1:7400"];

#[tokio::test]
async fn native_api_examples_work_as_pasted() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let blocks = shell_blocks(section(&readme, SECTION));
    assert!(blocks.len() >= 2, "the section has its examples");
    assert!(blocks.iter().any(|b| b.contains("\nwebsocat ") || b.starts_with("websocat ")), "and a WebSocket one");

    let root = tempfile::tempdir().unwrap();
    let s = Server::start_with(Options { data: Some(root.path().join("herald-data")), ..Options::default() }).await;
    let address = s.base.trim_start_matches("http://").to_owned();
    let mut shell = Shell::start(root.path());
    let mut client: Option<Ws> = None;

    for (n, block) in blocks.iter().enumerate() {
        let block = README_ADDRESSES.iter().fold(block.clone(), |b, a| b.replace(a, &address));
        let lines: Vec<&str> = block.lines().collect();
        let session = lines.iter().position(|l| l.starts_with("websocat "));
        let shell_part = lines[..session.unwrap_or(lines.len())].join("\n");
        let printed = shell.run(&shell_part);
        let expected = documented(&shell_part, "# -> ");
        let outputs = json_stream(&printed).unwrap_or_else(|e| panic!("block {n} printed no JSON ({e}): {printed}"));
        assert_eq!(outputs.len(), expected.len(), "block {n}: printed {printed}\ndocumented {expected:?}");
        for (doc, out) in expected.iter().zip(&outputs) {
            if let Err(e) = same_shape(doc, out, "") {
                panic!("block {n}: {e}\ndocumented: {doc}\nprinted:    {out}");
            }
        }
        match session {
            Some(at) => {
                // The URL as the reader's shell expands it.
                let url = shell.run(&format!("printf '%s\\n' {}", lines[at].trim_start_matches("websocat ")));
                let mut ws = Ws::open(url.trim()).await;
                play_session(&mut ws, &lines[at + 1..], n).await;
                client = Some(ws);
            }
            None => {
                for frame in documented(&shell_part, "# <- ") {
                    let ws = client.as_mut().unwrap_or_else(|| panic!("block {n} expects a frame before a client"));
                    expect_frame(ws, &frame, n).await;
                }
            }
        }
    }
    assert!(client.is_some(), "a WebSocket client was opened");
    shell.exit();
}

/// Type the session's frames and check what comes back, in order.
async fn play_session(ws: &mut Ws, lines: &[&str], block: usize) {
    let mut pending = lines.iter().peekable();
    while let Some(line) = pending.next() {
        if line.starts_with('{') {
            ws.send_raw(line).await;
        } else if let Some(first) = line.strip_prefix("# <- ") {
            let mut text = first.to_owned();
            while let Some(more) = pending.next_if(|l| is_continuation(l)) {
                text.push_str(&more[1..]);
            }
            let frame: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("block {block}: {e}: {text}"));
            expect_frame(ws, &frame, block).await;
        }
    }
}

async fn expect_frame(ws: &mut Ws, documented: &Value, block: usize) {
    let got = ws.recv().await;
    if let Err(e) = same_shape(documented, &got, "") {
        panic!("block {block}, WebSocket frame: {e}\ndocumented: {documented}\nreceived:   {got}");
    }
}

/// The text from a `## ` heading to the next one.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("README has no {heading:?}"));
    let body = &readme[start + heading.len() + 2..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}

/// The contents of the ```sh blocks.
fn shell_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

fn is_continuation(line: &str) -> bool {
    line.starts_with("#  ")
}

/// The JSON documents of the lines starting with `marker` (with their continuation lines).
fn documented(block: &str, marker: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(first) = line.strip_prefix(marker) else { continue };
        let mut text = first.to_owned();
        while let Some(more) = lines.next_if(|l| is_continuation(l)) {
            text.push_str(&more[1..]);
        }
        out.push(
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("documented JSON does not parse ({e}): {text}")),
        );
    }
    out
}

/// Every JSON document of a text that holds several (curl prints each answer without a line break).
fn json_stream(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    serde_json::Deserializer::from_str(text).into_iter::<Value>().collect()
}

/// Whether `actual` has the shape of `documented` (see the module comment); the first difference otherwise.
fn same_shape(documented: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (documented, actual) {
        (Value::Object(d), Value::Object(a)) => {
            let (mut dk, mut ak): (Vec<&String>, Vec<&String>) = (d.keys().collect(), a.keys().collect());
            dk.sort();
            ak.sort();
            if dk != ak {
                return Err(format!("{path}: keys {ak:?}, documented {dk:?}"));
            }
            d.iter().try_for_each(|(k, v)| same_shape(v, &a[k], &format!("{path}.{k}")))
        }
        (Value::Array(d), Value::Array(a)) if d.len() == a.len() => {
            d.iter().zip(a).enumerate().try_for_each(|(i, (d, a))| same_shape(d, a, &format!("{path}[{i}]")))
        }
        (Value::Number(_), Value::Number(_)) => Ok(()),
        (Value::String(d), Value::String(a)) if d == a => Ok(()),
        (Value::String(d), Value::String(a)) if d.strip_suffix("...").is_some_and(|p| a.starts_with(p)) => Ok(()),
        (d, a) if d == a => Ok(()),
        (d, a) => Err(format!("{path}: {a}, documented {d}")),
    }
}

/// A bash session fed one block at a time, like a terminal the reader pastes into.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    blocks: usize,
}

impl Shell {
    fn start(dir: &std::path::Path) -> Self {
        let mut child = Command::new("bash")
            .current_dir(dir)
            .env_remove("HERALD_DATA")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "set -euo pipefail").unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stdin, lines, blocks: 0 }
    }

    /// Run `script` and return what it printed.
    fn run(&mut self, script: &str) -> String {
        self.blocks += 1;
        let end = format!("--- end of block {} ---", self.blocks);
        writeln!(self.stdin, "{script}\nprintf '\\n%s\\n' '{end}'").unwrap();
        self.stdin.flush().unwrap();
        let mut printed = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == end => return printed.join("\n"),
                Ok(line) => printed.push(line),
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!("the shell stopped (exit {status:?}) in:\n{script}\nafter printing:\n{}", printed.join("\n"))
                }
            }
        }
    }

    fn exit(mut self) {
        let _ = writeln!(self.stdin, "exit 0");
        let _ = self.child.wait();
    }
}
