//! The presence state machine under any sequence of changes: connects, closes (with and without a grace period),
//! background switches, custom statuses, server reports, kicks, sweeps and node losses, at increasing times.
//! Whatever the sequence, the derived view follows from the records, and an event is emitted exactly when the
//! view really changes.

use herald_core::presence::{ChangeCause, ConnectionRecord, ConnectionSource, PresenceChange, UserPresence};
use herald_core::{ConnectionId, Millis, NodeId, Platform};
use proptest::prelude::*;

const PLATFORMS: [Platform; 3] = [Platform::Ios, Platform::Web, Platform::Android];

fn node(n: u8) -> NodeId {
    NodeId::new(format!("n{n}"))
}

fn conn_id(n: u8, seq: u8) -> ConnectionId {
    ConnectionId::new(&node(n), u64::from(seq))
}

/// One step: a change and how much time passes before it.
#[derive(Clone, Debug)]
struct Step {
    wait: Millis,
    change: PresenceChange,
}

fn change() -> impl Strategy<Value = PresenceChange> {
    let platform = prop::sample::select(PLATFORMS.to_vec());
    let conn = (0u8..2, 0u8..4);
    prop_oneof![
        (conn.clone(), platform.clone(), any::<bool>()).prop_map(|((n, seq), platform, background)| {
            PresenceChange::Connect(ConnectionRecord::socket(conn_id(n, seq), node(n), platform, background, 0))
        }),
        (conn.clone(), prop::sample::select(vec![0, 50, 500]), any::<bool>()).prop_map(
            |((n, seq), grace, timed_out)| {
                let cause = if timed_out { ChangeCause::TimedOut } else { ChangeCause::Disconnected };
                PresenceChange::Disconnect { id: conn_id(n, seq), cause, grace }
            }
        ),
        (conn, any::<bool>())
            .prop_map(|((n, seq), background)| PresenceChange::SetBackground { id: conn_id(n, seq), background }),
        prop::option::of("[a-z]{0,8}").prop_map(PresenceChange::SetCustomStatus),
        (platform.clone(), 1i64..1000, any::<bool>()).prop_map(|(platform, ttl, background)| PresenceChange::Report {
            platform,
            ttl,
            background,
            node: node(0)
        }),
        prop::option::of(platform.clone()).prop_map(|platform| PresenceChange::ReportOffline { platform }),
        prop::option::of(platform).prop_map(|platform| PresenceChange::Kick { platform }),
        Just(PresenceChange::Expire),
        (0u8..2).prop_map(|n| PresenceChange::RemoveNode(node(n))),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0i64..400, change()).prop_map(|(wait, change)| Step { wait, change }), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_view_follows_the_records_and_events_are_real_changes(steps in steps()) {
        let mut state = UserPresence::default();
        let mut now: Millis = 1_000;
        let mut seen = state.view();
        for step in steps {
            now += step.wait;
            let before = state.clone();
            let expire = matches!(step.change, PresenceChange::Expire);
            match state.apply(step.change, now) {
                Err(_) => prop_assert_eq!(&state, &before, "a refused change leaves the state alone"),
                Ok(t) => {
                    prop_assert_eq!(&t.before, &seen, "the transition starts where the last one ended");
                    prop_assert_eq!(&t.after, &state.view(), "the transition ends at the state's view");
                    prop_assert_eq!(t.changed(), t.before != t.after);
                    if t.changed() {
                        prop_assert_eq!(state.since, now, "a change restarts the current state's time");
                    } else {
                        prop_assert_eq!(state.since, before.since);
                    }
                    if t.before.online && !t.after.online {
                        prop_assert_eq!(state.last_seen, Some(now), "going offline records when");
                    }
                    seen = t.after;
                }
            }
            let view = state.view();
            prop_assert_eq!(view.online, !state.connections.is_empty(), "online iff a record holds it");
            let mut sorted = view.platforms.clone();
            sorted.sort_by_key(|p| p.id());
            sorted.dedup();
            prop_assert_eq!(&view.platforms, &sorted, "platforms sorted, without duplicates");
            let expected: Vec<Platform> = {
                let mut p: Vec<Platform> = state.connections.iter().map(|c| c.platform).collect();
                p.sort_by_key(|p| p.id());
                p.dedup();
                p
            };
            prop_assert_eq!(&view.platforms, &expected, "the platforms are those of the records");
            let all_background = state.connections.iter().all(|c| c.background);
            prop_assert_eq!(view.push_online, view.online && all_background);
            if !view.online {
                prop_assert_eq!(&view.custom_status, &None, "no custom status while offline");
            }
            if expire {
                prop_assert!(
                    state.connections.iter().all(|c| c.lease_until.is_none_or(|t| t > now)),
                    "a sweep leaves nothing due"
                );
            }
            for c in &state.connections {
                if c.source == ConnectionSource::Socket && c.lease_until.is_none() {
                    prop_assert!(c.closing.is_none(), "a live socket is not closing");
                }
            }
        }
    }
}
