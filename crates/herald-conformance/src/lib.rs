//! Conformance suites every backend must pass unchanged: one for `Store`, one for `PresenceRegistry` and `Bus`.
//! A backend's test file calls [`store_conformance!`] (or [`registry_conformance!`]) with an async factory that
//! returns a fresh, empty backend; each case becomes one `#[tokio::test]`.

pub mod registry;
pub mod store;

/// Expand the Store suite into one test per case. `$factory` is an expression evaluating to a future of
/// `Option<Arc<dyn Store>>`; `None` skips the case (a backend whose server is not configured).
#[macro_export]
macro_rules! store_conformance {
    ($factory:expr) => {
        $crate::store_conformance!(@cases $factory;
            users_register_get_and_reregister,
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
    (@cases $factory:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            match $factory.await {
                Some(store) => $crate::store::$case(store).await,
                None => eprintln!("skipped {}: backend not configured", stringify!($case)),
            }
        }
    )*};
}

/// Expand the PresenceRegistry + Bus suite into one test per case. `$factory` is an expression evaluating to a
/// future of `Option<registry::Backend>`; `None` skips the case. The backend's `cleanup` runs after the case.
#[macro_export]
macro_rules! registry_conformance {
    ($factory:expr) => {
        $crate::registry_conformance!(@cases $factory;
            apply_and_get,
            invalid_change_leaves_state_alone,
            concurrent_changes_to_one_user_serialize,
            expire_due_handles_lingering_closes_once,
            reconnect_within_grace_keeps_nothing_due,
            reported_presence_expires,
            dead_node_is_reaped_once,
            bus_delivers_listened_topics_only,
            bus_listening_is_counted,
            bus_reaches_other_nodes,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            match $factory.await {
                Some(mut backend) => {
                    let cleanup = backend.cleanup.take();
                    $crate::registry::$case(backend).await;
                    if let Some(cleanup) = cleanup {
                        cleanup.await;
                    }
                }
                None => eprintln!("skipped {}: backend not configured", stringify!($case)),
            }
        }
    )*};
}
