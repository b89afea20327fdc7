//! In-process hot paths: the presence state machine, and a presence change fanned out to N local connections
//! through the public service API (SQLite store in a temporary folder, in-memory registry and bus: the embedded
//! single-node setup), and the Tencent UserSig check.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herald_core::presence::{ChangeCause, ConnectionRecord, PresenceChange, UserPresence};
use herald_core::store::{NewUser, RegisterMode};
use herald_core::subscription::SubscriptionKind;
use herald_core::{App, ConnectionId, NodeId, Platform, UserId};
use herald_memory::{MemoryBus, MemoryRegistry};
use herald_service::{AppDirectory, Backends, ClientConnection, Herald, PresenceReport, ServiceConfig, UnknownTargets};
use herald_sqlite::{Durability, SqliteStore};

fn presence_apply(c: &mut Criterion) {
    let node = NodeId::new("bench");
    let record = |seq: u64, platform: Platform| {
        ConnectionRecord::socket(ConnectionId::new(&node, seq), node.clone(), platform, false, 1)
    };
    let mut group = c.benchmark_group("UserPresence::apply");
    // A user already online on iOS connects and disconnects on the web: two real changes (platforms change).
    group.bench_function("connect + disconnect, second platform", |b| {
        let mut p = UserPresence::default();
        p.apply(PresenceChange::Connect(record(0, Platform::Ios)), 1).unwrap();
        let mut seq = 1;
        b.iter(|| {
            seq += 1;
            let up = p.apply(PresenceChange::Connect(record(seq, Platform::Web)), 2).unwrap();
            let id = ConnectionId::new(&node, seq);
            let down =
                p.apply(PresenceChange::Disconnect { id, cause: ChangeCause::Disconnected, grace: 0 }, 3).unwrap();
            black_box((up, down))
        })
    });
    // Offline -> online -> offline: the commonest change of all.
    group.bench_function("connect + disconnect, only connection", |b| {
        let mut p = UserPresence::default();
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            let up = p.apply(PresenceChange::Connect(record(seq, Platform::Web)), 2).unwrap();
            let id = ConnectionId::new(&node, seq);
            let down =
                p.apply(PresenceChange::Disconnect { id, cause: ChangeCause::Disconnected, grace: 0 }, 3).unwrap();
            black_box((up, down))
        })
    });
    group.finish();
}

struct FanoutRig {
    rt: tokio::runtime::Runtime,
    herald: Arc<Herald>,
    app: Arc<App>,
    target: UserId,
    conns: Vec<ClientConnection>,
    _dir: tempfile::TempDir,
}

fn rig(subscribers: usize) -> FanoutRig {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db"), Durability::Normal).unwrap();
    let app: App = serde_json::from_value(serde_json::json!({
        "app_id": "bench",
        "api_key": "bench-key",
        "limits": { "max_subscribers_per_target": 1_000_000 },
    }))
    .unwrap();
    let backends =
        Backends { store: Arc::new(store), registry: Arc::new(MemoryRegistry::new()), bus: Arc::new(MemoryBus::new()) };
    let config = ServiceConfig { grace: Duration::ZERO, send_queue: 16, ..ServiceConfig::default() };
    let herald = Herald::new(backends, AppDirectory::new([app.clone()]).unwrap(), config, NodeId::new("bench"));
    let app = herald.apps.all().next().unwrap().clone();
    let target = UserId::parse("target").unwrap();
    let conns = rt.block_on(async {
        let subs: Vec<UserId> = (0..subscribers).map(|i| UserId::parse(format!("s{i}")).unwrap()).collect();
        let mut users: Vec<NewUser> = subs.iter().cloned().map(NewUser::id_only).collect();
        users.push(NewUser::id_only(target.clone()));
        for chunk in users.chunks(1000) {
            herald.register_users(&app.app_id, chunk, RegisterMode::KeepExisting).await.unwrap();
        }
        let mut conns = Vec::with_capacity(subscribers);
        for s in &subs {
            herald
                .subscribe(
                    &app,
                    s,
                    std::slice::from_ref(&target),
                    SubscriptionKind::OnlineStatus,
                    None,
                    UnknownTargets::Reject,
                )
                .await
                .unwrap();
            conns.push(herald.connect(app.clone(), s.clone(), Platform::Web, false).await.unwrap());
        }
        conns
    });
    FanoutRig { rt, herald, app, target, conns, _dir: dir }
}

/// One target goes online and offline (two changes); every subscriber's connection gets both events queued, and
/// the queues are drained as a writer would.
fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan-out to local connections");
    for n in [100usize, 1_000, 10_000] {
        let mut rig = rig(n);
        group.throughput(Throughput::Elements(2 * n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let FanoutRig { rt, herald, app, target, conns, .. } = &mut rig;
                rt.block_on(async {
                    let online = PresenceReport::Online {
                        platform: Platform::Web,
                        ttl: Duration::from_secs(60),
                        background: false,
                    };
                    herald.report_presence(&app.app_id, target, online).await.unwrap();
                    herald
                        .report_presence(&app.app_id, target, PresenceReport::Offline { platform: None })
                        .await
                        .unwrap();
                });
                let mut delivered = 0;
                for conn in conns.iter_mut() {
                    while conn.outbound.try_recv().is_ok() {
                        delivered += 1;
                    }
                }
                assert_eq!(delivered, 2 * n, "every subscriber gets both changes");
            })
        });
    }
    group.finish();
}

/// Verifying a Tencent UserSig: base64, zlib, JSON and an HMAC-SHA256, on every Tencent REST call and gateway login.
fn usersig_verify(c: &mut Criterion) {
    use herald_http::tencent::usersig;
    let (sdkappid, key, admin) =
        (1_400_000_001, "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e", "administrator");
    let now = 1_700_000_000;
    let sig = usersig::generate(sdkappid, key, admin, 86_400, now, None);
    c.bench_function("Tencent UserSig verify", |b| {
        b.iter(|| black_box(usersig::verify(black_box(&sig), sdkappid, key, admin, now + 60).is_ok()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = presence_apply, fanout, usersig_verify
}
criterion_main!(benches);
