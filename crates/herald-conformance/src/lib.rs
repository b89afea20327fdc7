//! Conformance suites every backend must pass unchanged: one for `Store`, one for `PresenceRegistry` and `Bus`.
//! A backend's test file calls [`store_conformance!`] (or [`registry_conformance!`]) with an async factory that
//! returns a fresh, empty backend; each case becomes one `#[tokio::test]`, marked ignored for backends that need a
//! server outside the process.

pub mod registry;
pub mod store;

/// Expand the Store suite into one test per case. `$factory` is an expression evaluating to a future of
/// `Arc<dyn Store>`, a fresh and empty store. A backend that needs a server outside the process passes
/// `ignore = "needs ..."`: its cases are then marked `#[ignore]` with that reason, so a run without the server shows
/// them as ignored, and `cargo test -- --include-ignored` runs them (the factory must then fail loudly when the
/// server is not configured or does not answer, never pass quietly).
#[macro_export]
macro_rules! store_conformance {
    ($factory:expr $(, ignore = $reason:literal)? $(,)?) => {
        $crate::store_conformance!(@cases $factory; [$(#[ignore = $reason])?];
            users_register_get_and_reregister,
            users_register_all_new_is_all_or_nothing,
            users_delete_removes_relations_and_fixes_counts,
            last_seen_is_recorded,
            subscribe_refresh_and_unsubscribe,
            subscriber_limit_rejects_whole_call,
            target_limit_skips_only_full_targets,
            expired_subscriptions_neither_count_nor_list,
            subscription_pages_are_stable_under_inserts,
            subscribers_of_lists_live_subscribers,
            follow_unfollow_counts_and_relations,
            following_limit_and_self_follow,
            follow_pages_newest_first_and_stable,
            mutual_list_and_counts,
            tokens_record_and_kick,
            apps_insert_if_absent_keeps_first,
            apps_are_isolated,
        );
    };
    (@cases $factory:expr; $attrs:tt; $($case:ident),* $(,)?) => {$(
        $crate::store_conformance!(@case $factory; $attrs; $case);
    )*};
    (@case $factory:expr; [$(#[$attr:meta])*]; $case:ident) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $case() {
            $crate::store::$case($factory.await).await
        }
    };
}

/// Expand the PresenceRegistry + Bus suite into one test per case. `$factory` is an expression evaluating to a
/// future of [`registry::Backend`]; the backend's `cleanup` runs after the case. `ignore = "needs ..."` works as for
/// [`store_conformance!`].
#[macro_export]
macro_rules! registry_conformance {
    ($factory:expr $(, ignore = $reason:literal)? $(,)?) => {
        $crate::registry_conformance!(@cases $factory; [$(#[ignore = $reason])?];
            apply_and_get,
            invalid_change_leaves_state_alone,
            concurrent_changes_to_one_user_serialize,
            expire_due_handles_lingering_closes_once,
            leases_racing_sweeps_leave_nothing_due,
            reconnect_within_grace_keeps_nothing_due,
            reported_presence_expires,
            dead_node_is_reaped_once,
            a_reaped_node_learns_it_and_is_reaped_again_when_it_dies_again,
            bus_delivers_listened_topics_only,
            bus_listening_is_counted,
            bus_listen_many_is_counted_per_topic,
            bus_concurrent_listening_settles_to_the_counts,
            bus_reaches_other_nodes,
        );
    };
    (@cases $factory:expr; $attrs:tt; $($case:ident),* $(,)?) => {$(
        $crate::registry_conformance!(@case $factory; $attrs; $case);
    )*};
    (@case $factory:expr; [$(#[$attr:meta])*]; $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $case() {
            let mut backend = $factory.await;
            let cleanup = backend.cleanup.take();
            $crate::registry::$case(backend).await;
            if let Some(cleanup) = cleanup {
                cleanup.await;
            }
        }
    };
}
