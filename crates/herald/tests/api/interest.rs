//! Interest ordering end to end: one subscriber's subscribe and unsubscribe calls race each other through the HTTP
//! API and through the subscriber's own socket. Once the last call is acknowledged, the socket must hear about
//! exactly the targets its stored subscriptions name: none kept after its unsubscribe, none lost after its subscribe.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::support::{Server, Ws};

/// Targets per trial: few, so that racing calls often name the same target.
const TARGETS: usize = 4;
/// Calls on each lane of a trial: the subscriber's socket and two HTTP clients.
const CALLS_PER_LANE: usize = 12;
const HTTP_LANES: usize = 2;
/// Trials run at once; the concurrency is also what makes the server interleave the calls.
const CONCURRENT_TRIALS: usize = 4;
/// How long one attempt of the settling probe waits for its event before trying again.
const PROBE_WAIT: Duration = Duration::from_millis(500);
const PROBE_ATTEMPTS: usize = 40;

#[tokio::test]
async fn socket_hears_exactly_the_stored_subscriptions_after_racing_calls() {
    let s = Server::start().await;
    run_trials(&[&s], 48).await;
}

#[tokio::test]
async fn a_deleted_target_no_longer_reaches_its_subscribers() {
    let s = Server::start().await;
    deleted_target_no_longer_reaches_its_subscribers(&[&s]).await;
}

/// A deleted user takes its subscriptions with it, also on the live connections of its subscribers: they hear
/// nothing of a new user registered under the same ID. In a cluster the deletion goes through another node than the
/// subscriber's socket, and the new user connects on a third.
pub(crate) async fn deleted_target_no_longer_reaches_its_subscribers(nodes: &[&Server]) {
    let node = |i: usize| nodes[i % nodes.len()];
    node(0).register(&["alice", "dave", "probe"]).await;
    let mut alice = node(0).connect("alice", "web").await;
    alice.subscribe(&["dave", "probe"]).await;
    let (status, body) = node(1).post("/v1/users/delete", json!({"user_ids": ["dave"]})).await;
    assert_eq!(status, 200, "{body}");
    node(2).register(&["dave"]).await;
    let _dave = node(2).connect("dave", "ios").await;
    // The probe's change is published after the new user's, so it arrives after it if that arrives at all.
    let _probe = node(2).connect("probe", "web").await;
    let frame = alice.presence().await;
    assert_eq!(frame["user_id"], "probe", "the deleted user's subscription still delivers: {frame}");
    let (_, page) = node(0).get("/v1/users/alice/subscriptions?limit=10").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

/// A subscription made through another node than the subscriber's socket, and a change of the target right after
/// the answer: published before the socket's node has begun to listen to the target, it must still reach the socket.
pub(crate) async fn target_changing_after_a_remote_subscribe_reaches_the_socket(nodes: &[&Server], trials: usize) {
    for n in 0..trials {
        let (subscriber, target) = (format!("gap{n}-s"), format!("gap{n}-t"));
        nodes[0].register(&[&subscriber, &target]).await;
        let mut socket = nodes[0].connect(&subscriber, "web").await;
        let mut target_socket = nodes[2].connect(&target, "ios").await;
        let (status, answer) =
            nodes[1].post("/v1/subscriptions", json!({"subscriber": subscriber, "targets": [target]})).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["presences"][0]["custom_status"], json!(null), "{answer}");
        target_socket.send(json!({"type": "custom_status", "custom_status": "changed"})).await;
        let frame = socket.recv_within(Duration::from_secs(10)).await;
        let frame = frame.unwrap_or_else(|| panic!("trial {n}: the change after the answer never arrived"));
        assert_eq!(
            (frame["user_id"].as_str(), frame["custom_status"].as_str()),
            (Some(target.as_str()), Some("changed"))
        );
        target_socket.close().await;
        socket.close().await;
    }
}

/// Run `trials` trials against the nodes (the subscriber's socket lives on the first one; HTTP calls go to any)
/// and fail with every trial that diverged.
pub(crate) async fn run_trials(nodes: &[&Server], trials: usize) {
    let numbers: Vec<usize> = (0..trials).collect();
    let mut failures = Vec::new();
    for batch in numbers.chunks(CONCURRENT_TRIALS) {
        let results = join_all(batch.iter().map(|&n| trial(nodes, n))).await;
        failures.extend(results.into_iter().filter_map(Result::err));
    }
    assert!(failures.is_empty(), "{} of {trials} trials diverged:\n{}", failures.len(), failures.join("\n"));
}

/// A subscribe or unsubscribe call naming some targets.
#[derive(Debug)]
struct Call {
    subscribe: bool,
    targets: Vec<String>,
}

impl Call {
    fn random(rng: &mut SplitMix, targets: &[String]) -> Self {
        let subscribe = rng.below(2) == 0;
        let first = rng.below(targets.len());
        let mut named = vec![targets[first].clone()];
        if rng.below(3) == 0 {
            named.push(targets[(first + 1 + rng.below(targets.len() - 1)) % targets.len()].clone());
        }
        Call { subscribe, targets: named }
    }
}

/// One trial with users of its own: race the calls, let the cluster settle, then compare what the socket hears
/// with what is stored. Returns a description of the divergence, if any.
async fn trial(nodes: &[&Server], n: usize) -> Result<(), String> {
    let home = nodes[0];
    let mut rng = SplitMix(n as u64 + 1);
    let subscriber = format!("race{n}-s");
    let probe = format!("race{n}-probe");
    let targets: Vec<String> = (0..TARGETS).map(|i| format!("race{n}-t{i}")).collect();
    let everyone: Vec<&str> = [&subscriber, &probe].into_iter().chain(&targets).map(String::as_str).collect();
    home.register(&everyone).await;
    let mut socket = home.connect(&subscriber, "web").await;

    // Planned up front, so a trial's calls depend only on its number.
    let socket_calls: Vec<Call> = (0..CALLS_PER_LANE).map(|_| Call::random(&mut rng, &targets)).collect();
    let http_lanes: Vec<Vec<(usize, Call)>> = (0..HTTP_LANES)
        .map(|_| (0..CALLS_PER_LANE).map(|_| (rng.below(nodes.len()), Call::random(&mut rng, &targets))).collect())
        .collect();
    let (socket_result, http_results) = tokio::join!(
        socket_burst(&mut socket, &socket_calls),
        join_all(http_lanes.iter().map(|lane| http_burst(nodes, &subscriber, lane))),
    );
    socket_result?;
    http_results.into_iter().collect::<Result<Vec<()>, String>>()?;

    let mut probe_socket = settle(nodes, &mut socket, &subscriber, &probe).await?;

    let (status, page) = home.get(&format!("/v1/users/{subscriber}/subscriptions?limit=100")).await;
    if status != 200 {
        return Err(format!("trial {n}: listing subscriptions answered {status}: {page}"));
    }
    let stored: BTreeSet<String> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["user_id"].as_str())
        .filter(|id| *id != probe)
        .map(str::to_owned)
        .collect();

    // Every target changes once, in turn; then the probe changes. Each change is published before its socket is
    // answered, so whatever the subscriber's socket hears about the targets arrives before the probe's change.
    let mut online = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        online.push(nodes[i % nodes.len()].connect(target, "ios").await);
    }
    let (reply, _) = probe_socket.request(json!({"type": "custom_status", "custom_status": "last"})).await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let mut heard = BTreeSet::new();
    loop {
        let Some(frame) = socket.recv_within(Duration::from_secs(10)).await else {
            return Err(format!("trial {n}: the probe's last change never arrived"));
        };
        let user = frame["user_id"].as_str().unwrap_or_default().to_owned();
        if user == probe {
            if frame["custom_status"] == "last" {
                break;
            }
            continue;
        }
        heard.insert(user);
    }
    for ws in online {
        ws.close().await;
    }
    probe_socket.close().await;
    socket.close().await;
    if heard != stored {
        return Err(format!("trial {n}: stored {stored:?} but the socket heard {heard:?}"));
    }
    Ok(())
}

/// Send every call as a frame without waiting, then collect the replies.
///
/// Here and over HTTP, a call may fail as unavailable (a shared store gives up on a transaction that keeps
/// conflicting with the racing ones). That is no divergence: whatever the store kept, the socket must follow.
async fn socket_burst(socket: &mut Ws, calls: &[Call]) -> Result<(), String> {
    for (i, call) in calls.iter().enumerate() {
        let kind = if call.subscribe { "subscribe" } else { "unsubscribe" };
        socket.send(json!({"type": kind, "id": format!("burst{i}"), "user_ids": call.targets})).await;
    }
    for _ in calls {
        let reply = socket.recv().await;
        let answered = matches!(reply["type"].as_str(), Some("subscribed" | "unsubscribed"));
        if !answered && reply["code"] != "backend_unavailable" {
            return Err(format!("a socket call failed: {reply}"));
        }
    }
    Ok(())
}

/// Make the calls one after the other, each through the node it names.
async fn http_burst(nodes: &[&Server], subscriber: &str, calls: &[(usize, Call)]) -> Result<(), String> {
    for (node, call) in calls {
        let path = if call.subscribe { "/v1/subscriptions" } else { "/v1/subscriptions/delete" };
        let (status, body) = nodes[*node].post(path, json!({"subscriber": subscriber, "targets": call.targets})).await;
        if status != 200 && status != 503 {
            return Err(format!("{path} answered {status}: {body}"));
        }
    }
    Ok(())
}

/// Subscribe to the probe through the last node (in a cluster, not the socket's) and change the probe's presence
/// until the subscriber's socket hears of it. Interest changes of one subscriber apply in order, so by then every
/// change acknowledged before the probe's subscribe applies on the socket's node too. Returns the probe's socket.
async fn settle(nodes: &[&Server], socket: &mut Ws, subscriber: &str, probe: &str) -> Result<Ws, String> {
    let via = nodes[nodes.len() - 1];
    let mut answer = (503, json!(null));
    for _ in 0..PROBE_ATTEMPTS {
        answer = via.post("/v1/subscriptions", json!({"subscriber": subscriber, "targets": [probe]})).await;
        if answer.0 != 503 {
            break;
        }
    }
    if answer.0 != 200 {
        return Err(format!("subscribing to the probe answered {}: {}", answer.0, answer.1));
    }
    let mut probe_socket = nodes[0].connect(probe, "web").await;
    for attempt in 0..PROBE_ATTEMPTS {
        if attempt > 0 {
            let status = format!("settle{attempt}");
            let (reply, _) = probe_socket.request(json!({"type": "custom_status", "custom_status": status})).await;
            assert_eq!(reply["type"], "ok", "{reply}");
        }
        while let Some(frame) = socket.recv_within(PROBE_WAIT).await {
            if frame["user_id"] == probe {
                return Ok(probe_socket);
            }
        }
    }
    Err("the probe's changes never reached the subscriber's socket".into())
}

/// A small deterministic generator (splitmix64), so a failing trial can be replayed from its number.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}
