//! Presence across restarts of a single node (the embedded default), whose records live in its memory.
//!
//! - A drained stop writes every record, now lingering, to `presence-snapshot.json` (written whole, then renamed
//!   into place). The next start loads them with their deadlines extended by the restart allowance: a client back
//!   in time changes nothing; one that is not goes offline once, when its deadline passes.
//! - While it runs, the node appends each user's changes between offline and online to `presence.journal`. After a
//!   crash (no snapshot) the next start reads who was online from it and publishes each one's change to offline
//!   once, so webhook receivers never keep a user online forever.
//!
//! The journal is written by a thread of its own, never on the path of a change: a crash loses at most the lines
//! still queued in memory (the operating system keeps what was written when the process dies).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use herald_core::event::PresenceEvent;
use herald_core::presence::{PresenceView, UserPresence};
use herald_core::{AppId, Millis, UserId};
use herald_memory::MemoryRegistry;
use herald_service::{EventSink, Herald};
use serde::{Deserialize, Serialize};

pub const SNAPSHOT_FILE: &str = "presence-snapshot.json";
pub const JOURNAL_FILE: &str = "presence.journal";
/// The journal is rewritten from the users online now once it holds this many lines more than them.
const COMPACT_AFTER_LINES: usize = 100_000;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    stopped_at: Millis,
    records: Vec<SnapshotRecord>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotRecord {
    app: AppId,
    user: UserId,
    presence: UserPresence,
}

/// One line of the journal: a user's view after a change between offline and online.
#[derive(Serialize, Deserialize)]
struct JournalLine {
    app: AppId,
    user: UserId,
    view: PresenceView,
}

type Online = HashMap<(AppId, UserId), PresenceView>;

/// What the previous process left behind.
pub enum Previous {
    /// Nothing: a first start, or a stop with nobody online.
    Nothing,
    /// A drained stop: its records, to resume.
    Drained { records: Vec<(AppId, UserId, UserPresence)>, stopped_at: Millis },
    /// A crash: the users it had online.
    Crashed { online: Vec<(AppId, UserId, PresenceView)> },
}

/// Read what the previous process left in `data`. Leaves the files in place: [`OnlineJournal::start`] replaces them
/// once the state is taken over, so a crash in between loses nothing.
pub fn read_previous(data: &Path) -> anyhow::Result<Previous> {
    let snapshot = data.join(SNAPSHOT_FILE);
    if snapshot.exists() {
        let raw = std::fs::read(&snapshot).with_context(|| format!("reading {}", snapshot.display()))?;
        let s: Snapshot = serde_json::from_slice(&raw).with_context(|| {
            format!("{} is not a presence snapshot (remove it to start with everyone offline)", snapshot.display())
        })?;
        let records = s.records.into_iter().map(|r| (r.app, r.user, r.presence)).collect();
        return Ok(Previous::Drained { records, stopped_at: s.stopped_at });
    }
    let online = read_journal(&data.join(JOURNAL_FILE))?;
    if online.is_empty() {
        return Ok(Previous::Nothing);
    }
    Ok(Previous::Crashed { online: online.into_iter().map(|((a, u), v)| (a, u, v)).collect() })
}

/// The users online at the end of a journal. A torn last line (the crash cut it) is skipped.
fn read_journal(path: &Path) -> anyhow::Result<Online> {
    let mut online = Online::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(online),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(entry) = serde_json::from_str::<JournalLine>(&line) else { continue };
        if entry.view.online {
            online.insert((entry.app, entry.user), entry.view);
        } else {
            online.remove(&(entry.app, entry.user));
        }
    }
    Ok(online)
}

/// Take over what the previous process left: resume a drained stop's records, or publish a crash's lost users
/// offline. Call before serving.
pub async fn take_over(
    previous: Previous,
    herald: &Herald,
    registry: &MemoryRegistry,
    allowance: Millis,
    now: Millis,
) -> anyhow::Result<()> {
    match previous {
        Previous::Nothing => {}
        Previous::Drained { records, stopped_at } => {
            let users = records.len();
            let records = records
                .into_iter()
                .map(|(app, user, mut presence)| {
                    presence.resume_after_restart(now, allowance);
                    (app, user, presence)
                })
                .collect();
            registry.restore(records);
            tracing::info!(users, down_ms = now - stopped_at, "resumed the presence of a drained stop");
        }
        Previous::Crashed { online } => {
            tracing::warn!(
                users = online.len(),
                "the previous process stopped without a drain: taking its users offline"
            );
            for (app, user, view) in online {
                herald.publish_lost_presence(&app, &user, view).await;
            }
        }
    }
    Ok(())
}

enum JournalOp {
    Line(JournalLine),
    /// Write what is queued and end, replying when done.
    Finish(mpsc::Sender<()>),
}

/// The event sink that keeps `presence.journal`.
pub struct OnlineJournal {
    tx: Mutex<mpsc::Sender<JournalOp>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl OnlineJournal {
    /// Start a journal in `data` that begins with the users online in `registry` (the state just taken over), and
    /// drop what the previous process left: from here on the journal is the record.
    pub fn start(data: &Path, registry: &MemoryRegistry) -> anyhow::Result<Arc<Self>> {
        let path = data.join(JOURNAL_FILE);
        let online: Online = registry
            .export()
            .into_iter()
            .map(|(app, user, presence)| ((app, user), presence.view()))
            .filter(|(_, view)| view.online)
            .collect();
        let file = rewrite(&path, &online)?;
        remove_if_present(&data.join(SNAPSHOT_FILE))?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("presence-journal".to_owned())
            .spawn(move || write_journal(path, file, online, rx))
            .context("starting the presence journal")?;
        Ok(Arc::new(Self { tx: Mutex::new(tx), writer: Mutex::new(Some(writer)) }))
    }

    /// Write what is queued and stop writing.
    pub fn finish(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(JournalOp::Finish(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl EventSink for OnlineJournal {
    fn presence_changed(&self, event: &Arc<PresenceEvent>) {
        if event.view.online != event.previous.online {
            let line = JournalLine { app: event.app.clone(), user: event.user_id.clone(), view: event.view.clone() };
            let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(JournalOp::Line(line));
        }
    }
}

fn write_journal(path: PathBuf, file: File, mut online: Online, rx: mpsc::Receiver<JournalOp>) {
    let mut out = BufWriter::new(file);
    let mut lines = online.len();
    let fail = |e: std::io::Error| tracing::error!(error = %e, path = %path.display(), "writing the presence journal");
    while let Ok(op) = rx.recv() {
        // Take everything queued, then write it in one go.
        let mut batch = vec![op];
        batch.extend(rx.try_iter());
        let mut finish = None;
        for op in batch {
            match op {
                JournalOp::Line(line) => {
                    let key = (line.app.clone(), line.user.clone());
                    if line.view.online {
                        online.insert(key, line.view.clone());
                    } else {
                        online.remove(&key);
                    }
                    if let Err(e) = serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from) {
                        fail(e);
                    }
                    let _ = out.write_all(b"\n");
                    lines += 1;
                }
                JournalOp::Finish(done) => finish = Some(done),
            }
        }
        if let Err(e) = out.flush() {
            fail(e);
        }
        if lines > COMPACT_AFTER_LINES + online.len() {
            match rewrite(&path, &online) {
                Ok(file) => {
                    out = BufWriter::new(file);
                    lines = online.len();
                }
                Err(e) => tracing::error!(error = %e, "compacting the presence journal"),
            }
        }
        if let Some(done) = finish {
            let _ = done.send(());
            return;
        }
    }
}

/// Replace the journal by one line per online user, atomically; returns the new file, open for appending.
fn rewrite(path: &Path, online: &Online) -> anyhow::Result<File> {
    let tmp = path.with_extension("journal.tmp");
    {
        let mut out = BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
        for ((app, user), view) in online {
            let line = JournalLine { app: app.clone(), user: user.clone(), view: view.clone() };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    OpenOptions::new().append(true).open(path).with_context(|| format!("opening {}", path.display()))
}

/// Write the records of a drained stop, then drop the journal they supersede.
pub fn write_snapshot(data: &Path, registry: &MemoryRegistry, stopped_at: Millis) -> anyhow::Result<usize> {
    let records: Vec<SnapshotRecord> =
        registry.export().into_iter().map(|(app, user, presence)| SnapshotRecord { app, user, presence }).collect();
    let count = records.len();
    let path = data.join(SNAPSHOT_FILE);
    let tmp = path.with_extension("json.tmp");
    {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer(&mut out, &Snapshot { stopped_at, records })?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    remove_if_present(&data.join(JOURNAL_FILE))?;
    Ok(count)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}
