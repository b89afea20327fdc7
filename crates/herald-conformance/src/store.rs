//! The Store suite. Each case gets a fresh store and uses app `t1` (and `t2` where isolation matters).

use std::sync::Arc;

use herald_core::follow::{FollowDone, FollowList, Relation};
use herald_core::paging::PageRequest;
use herald_core::store::{NewUser, RegisterMode, Store, TokenRecord};
use herald_core::subscription::{SubscribeRequest, SubscriptionKind, SubscriptionLimits};
use herald_core::{App, AppId, Error, Platform, UserId};

pub type DynStore = Arc<dyn Store>;

const T0: i64 = 1_700_000_000_000;
const KEEP: RegisterMode = RegisterMode::KeepExisting;
const KIND: SubscriptionKind = SubscriptionKind::OnlineStatus;
const ROOMY: SubscriptionLimits = SubscriptionLimits { per_subscriber: 1000, per_target: 5000 };

fn app() -> AppId {
    AppId::parse("t1").unwrap()
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn uids(list: &[&str]) -> Vec<UserId> {
    list.iter().map(|s| uid(s)).collect()
}

async fn register(s: &DynStore, app: &AppId, ids: &[&str]) {
    let users: Vec<NewUser> = ids.iter().map(|i| NewUser::id_only(uid(i))).collect();
    s.register_users(app, &users, T0, RegisterMode::KeepExisting).await.unwrap();
}

fn sub(subscriber: &str, targets: &[&str], expiry_secs: Option<i64>, now: i64) -> SubscribeRequest {
    SubscribeRequest { subscriber: uid(subscriber), targets: uids(targets), kind: KIND, expiry_secs, now }
}

fn first(limit: usize) -> PageRequest {
    PageRequest { after: None, limit }
}

pub async fn users_register_get_and_reregister(s: DynStore) {
    let a = app();
    let users = vec![
        NewUser { user_id: uid("alice"), nickname: Some("Alice".into()), face_url: Some("http://x/a.png".into()) },
        NewUser::id_only(uid("bob")),
    ];
    assert_eq!(s.register_users(&a, &users, T0, KEEP).await.unwrap(), vec![true, true]);
    assert_eq!(s.register_users(&a, &users[..1], T0 + 1, KEEP).await.unwrap(), vec![false], "re-register is no error");
    let mut got = s.get_users(&a, &uids(&["alice", "bob", "carol"])).await.unwrap();
    got.sort_by(|x, y| x.user_id.cmp(&y.user_id));
    assert_eq!(got.len(), 2, "unknown IDs are left out");
    assert_eq!(got[0].nickname.as_deref(), Some("Alice"));
    assert_eq!(got[0].created_at, T0, "re-registering keeps the original record");
    assert_eq!(got[1].face_url, None);
}

pub async fn users_register_all_new_is_all_or_nothing(s: DynStore) {
    let a = app();
    register(&s, &a, &["taken"]).await;
    let users: Vec<NewUser> = uids(&["fresh", "taken", "later"]).into_iter().map(NewUser::id_only).collect();
    let err = s.register_users(&a, &users, T0, RegisterMode::AllNew).await.unwrap_err();
    assert_eq!(err, Error::AlreadyRegistered(uid("taken")));
    assert!(s.get_users(&a, &uids(&["fresh", "later"])).await.unwrap().is_empty(), "nobody was created");
    let fresh: Vec<NewUser> = uids(&["fresh", "later"]).into_iter().map(NewUser::id_only).collect();
    assert_eq!(s.register_users(&a, &fresh, T0, RegisterMode::AllNew).await.unwrap(), vec![true, true]);
}

pub async fn users_delete_removes_relations_and_fixes_counts(s: DynStore) {
    let a = app();
    register(&s, &a, &["u", "x", "y", "z"]).await;
    s.follow(&a, &uid("u"), &uids(&["x", "y"]), T0, 100).await.unwrap();
    s.follow(&a, &uid("x"), &uids(&["u"]), T0, 100).await.unwrap();
    s.follow(&a, &uid("z"), &uids(&["u"]), T0, 100).await.unwrap();
    s.subscribe(&a, &sub("u", &["x"], None, T0), ROOMY).await.unwrap();
    s.subscribe(&a, &sub("y", &["u"], None, T0), ROOMY).await.unwrap();

    assert_eq!(s.delete_users(&a, &uids(&["u", "nobody"])).await.unwrap(), vec![true, false]);
    assert!(s.get_users(&a, &uids(&["u"])).await.unwrap().is_empty());
    let counts = s.follow_counts(&a, &uids(&["x", "y", "z", "u"])).await.unwrap();
    assert_eq!(
        (counts[0].fans, counts[0].following, counts[0].mutual),
        (0, 0, 0),
        "x lost its fan, following and mutual"
    );
    assert_eq!((counts[1].fans, counts[1].following), (0, 0));
    assert_eq!(counts[2].following, 0);
    assert_eq!(counts[3], Default::default());
    let page = s.subscribers_of(&a, &uid("x"), KIND, T0, &first(10)).await.unwrap();
    assert!(page.items.is_empty());
    let page = s.subscriptions_of(&a, &uid("y"), KIND, T0, &first(10)).await.unwrap();
    assert!(page.items.is_empty());
    let page = s.follow_page(&a, &uid("x"), FollowList::Fans, &first(10)).await.unwrap();
    assert!(page.items.is_empty());
}

pub async fn last_seen_is_recorded(s: DynStore) {
    let a = app();
    register(&s, &a, &["u"]).await;
    s.record_last_seen(&a, &uid("u"), T0 + 42).await.unwrap();
    assert_eq!(s.get_users(&a, &uids(&["u"])).await.unwrap()[0].last_seen, Some(T0 + 42));
}

pub async fn subscribe_refresh_and_unsubscribe(s: DynStore) {
    let a = app();
    let out = s.subscribe(&a, &sub("s", &["a", "b", "a"], Some(60), T0), ROOMY).await.unwrap();
    assert_eq!(out.subscribed, uids(&["a", "b"]), "duplicates collapse");
    let out = s.subscribe(&a, &sub("s", &["a"], Some(120), T0 + 5000), ROOMY).await.unwrap();
    assert_eq!(out.subscribed, uids(&["a"]));
    let page = s.subscriptions_of(&a, &uid("s"), KIND, T0 + 5000, &first(10)).await.unwrap();
    let items: Vec<_> = page.items.iter().map(|x| (x.target.as_str(), x.subscribed_at, x.expiry_secs)).collect();
    assert_eq!(items, vec![("b", T0, Some(60)), ("a", T0 + 5000, Some(120))], "refresh moves subTime and expiry");
    assert_eq!(page.items[1].expires_at, Some(T0 + 5000 + 120_000));
    let removed = s.unsubscribe(&a, &uid("s"), KIND, &uids(&["a", "zz"])).await.unwrap();
    assert_eq!(removed, uids(&["a"]));
    let other_kind = s.subscriptions_of(&a, &uid("s"), SubscriptionKind::UserProfile, T0, &first(10)).await.unwrap();
    assert!(other_kind.items.is_empty(), "kinds are separate lists");
}

pub async fn subscriber_limit_rejects_whole_call(s: DynStore) {
    let a = app();
    let limits = SubscriptionLimits { per_subscriber: 3, per_target: 10 };
    s.subscribe(&a, &sub("s", &["a", "b"], None, T0), limits).await.unwrap();
    let err = s.subscribe(&a, &sub("s", &["c", "d"], None, T0), limits).await.unwrap_err();
    assert_eq!(err, Error::SubscriberLimit { limit: 3 });
    let page = s.subscriptions_of(&a, &uid("s"), KIND, T0, &first(10)).await.unwrap();
    assert_eq!(page.items.len(), 2, "nothing of the rejected call was written");
    let out = s.subscribe(&a, &sub("s", &["a", "b", "c"], None, T0 + 1), limits).await.unwrap();
    assert_eq!(out.subscribed.len(), 3, "refreshing held pairs does not count twice");
}

pub async fn target_limit_skips_only_full_targets(s: DynStore) {
    let a = app();
    let limits = SubscriptionLimits { per_subscriber: 10, per_target: 2 };
    s.subscribe(&a, &sub("s1", &["hot"], None, T0), limits).await.unwrap();
    s.subscribe(&a, &sub("s2", &["hot"], None, T0), limits).await.unwrap();
    let out = s.subscribe(&a, &sub("s3", &["hot", "cold"], None, T0), limits).await.unwrap();
    assert_eq!(out.subscribed, uids(&["cold"]));
    assert_eq!(out.targets_at_limit, uids(&["hot"]));
    let out = s.subscribe(&a, &sub("s1", &["hot"], Some(60), T0 + 1), limits).await.unwrap();
    assert_eq!(out.subscribed, uids(&["hot"]), "an existing subscriber may refresh a full target");
}

pub async fn expired_subscriptions_neither_count_nor_list(s: DynStore) {
    let a = app();
    let limits = SubscriptionLimits { per_subscriber: 1, per_target: 1 };
    s.subscribe(&a, &sub("s", &["t"], Some(60), T0), limits).await.unwrap();
    let later = T0 + 61_000;
    assert!(s.subscriptions_of(&a, &uid("s"), KIND, later, &first(10)).await.unwrap().items.is_empty());
    assert!(s.subscribers_of(&a, &uid("t"), KIND, later, &first(10)).await.unwrap().items.is_empty());
    let out = s.subscribe(&a, &sub("s2", &["t"], None, later), limits).await.unwrap();
    assert_eq!(out.subscribed, uids(&["t"]), "the expired subscriber does not fill the target");
    let out = s.subscribe(&a, &sub("s", &["u"], None, later), limits).await.unwrap();
    assert_eq!(out.subscribed, uids(&["u"]), "the expired subscription does not fill the subscriber");
    s.subscribe(&a, &sub("p", &["q"], Some(60), T0), ROOMY).await.unwrap();
    assert_eq!(s.purge_expired(later, 100).await.unwrap(), 2, "s->t and p->q are stored and expired");
    assert_eq!(s.purge_expired(later, 100).await.unwrap(), 0);
    assert_eq!(s.subscriptions_of(&a, &uid("s"), KIND, later, &first(10)).await.unwrap().items.len(), 1);
}

pub async fn subscription_pages_are_stable_under_inserts(s: DynStore) {
    let a = app();
    let targets: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
    for (i, chunk) in targets.chunks(50).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        s.subscribe(&a, &sub("s", &refs, None, T0 + i as i64), ROOMY).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut n = 0;
    loop {
        let page = s.subscriptions_of(&a, &uid("s"), KIND, T0 + 10, &PageRequest { after, limit: 60 }).await.unwrap();
        seen.extend(page.items.iter().map(|x| x.target.to_string()));
        // Insert while paging: new subscriptions sort after every cursor already handed out.
        s.subscribe(&a, &sub("s", &[&format!("new{n}")], None, T0 + 100 + n), ROOMY).await.unwrap();
        n += 1;
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let original: Vec<&String> = seen.iter().filter(|t| t.starts_with('t')).collect();
    assert_eq!(original.len(), 250, "every original subscription once");
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no duplicates");
}

pub async fn subscribers_of_lists_live_subscribers(s: DynStore) {
    let a = app();
    for i in 0..7 {
        s.subscribe(&a, &sub(&format!("s{i}"), &["t"], None, T0 + i), ROOMY).await.unwrap();
    }
    let p1 = s.subscribers_of(&a, &uid("t"), KIND, T0, &first(4)).await.unwrap();
    assert_eq!(p1.items.len(), 4);
    let p2 =
        s.subscribers_of(&a, &uid("t"), KIND, T0, &PageRequest { after: p1.next.clone(), limit: 4 }).await.unwrap();
    assert_eq!(p2.items.len(), 3);
    assert!(p2.next.is_none(), "last page has no cursor");
    let names: Vec<String> = p1.items.iter().chain(&p2.items).map(|x| x.subscriber.to_string()).collect();
    assert_eq!(names, (0..7).map(|i| format!("s{i}")).collect::<Vec<_>>());
}

pub async fn follow_unfollow_counts_and_relations(s: DynStore) {
    let a = app();
    let r = s.follow(&a, &uid("a"), &uids(&["b", "c", "b"]), T0, 100).await.unwrap();
    assert_eq!(r, vec![Ok(FollowDone::Followed), Ok(FollowDone::Followed), Ok(FollowDone::AlreadyFollowing)]);
    s.follow(&a, &uid("b"), &uids(&["a"]), T0 + 1, 100).await.unwrap();
    let rel = s.relations(&a, &uid("a"), &uids(&["b", "c", "d"])).await.unwrap();
    assert_eq!(rel, vec![Relation::Mutual, Relation::IFollow, Relation::None]);
    let rel = s.relations(&a, &uid("c"), &uids(&["a"])).await.unwrap();
    assert_eq!(rel, vec![Relation::FollowsMe]);
    let c = s.follow_counts(&a, &uids(&["a", "b", "c"])).await.unwrap();
    assert_eq!((c[0].fans, c[0].following, c[0].mutual), (1, 2, 1));
    assert_eq!((c[1].fans, c[1].following, c[1].mutual), (1, 1, 1));
    assert_eq!((c[2].fans, c[2].following, c[2].mutual), (1, 0, 0));
    assert_eq!(s.unfollow(&a, &uid("a"), &uids(&["b", "zz"])).await.unwrap(), vec![true, false]);
    let c = s.follow_counts(&a, &uids(&["a", "b"])).await.unwrap();
    assert_eq!((c[0].fans, c[0].following, c[0].mutual), (1, 1, 0));
    assert_eq!((c[1].fans, c[1].following, c[1].mutual), (0, 1, 0));
}

pub async fn following_limit_and_self_follow(s: DynStore) {
    let a = app();
    let r = s.follow(&a, &uid("a"), &uids(&["b", "c", "d", "a"]), T0, 2).await.unwrap();
    assert_eq!(r[0], Ok(FollowDone::Followed));
    assert_eq!(r[1], Ok(FollowDone::Followed));
    assert_eq!(r[2], Err(Error::FollowingLimit { limit: 2 }));
    assert_eq!(r[3], Err(Error::SelfFollow));
    assert_eq!(s.follow_counts(&a, &uids(&["a"])).await.unwrap()[0].following, 2);
}

pub async fn follow_pages_newest_first_and_stable(s: DynStore) {
    let a = app();
    for i in 0..30 {
        s.follow(&a, &uid(&format!("f{i:02}")), &uids(&["star"]), T0 + i, 100).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut round = 0;
    loop {
        let page = s.follow_page(&a, &uid("star"), FollowList::Fans, &PageRequest { after, limit: 7 }).await.unwrap();
        seen.extend(page.items.iter().map(|e| e.user_id.to_string()));
        // Change edges while paging: a new fan (newer than every cursor) and the removal of one not yet seen.
        s.follow(&a, &uid(&format!("late{round}")), &uids(&["star"]), T0 + 1000 + round, 100).await.unwrap();
        if round == 0 {
            s.unfollow(&a, &uid("f00"), &uids(&["star"])).await.unwrap();
        }
        round += 1;
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let expected: Vec<String> = (1..30).rev().map(|i| format!("f{i:02}")).collect();
    assert_eq!(seen, expected, "newest first, each once, the removed one gone, late ones not mixed in");
    let following = s.follow_page(&a, &uid("f05"), FollowList::Following, &first(10)).await.unwrap();
    assert_eq!(following.items.len(), 1);
    assert_eq!(following.items[0].since, T0 + 5);
}

pub async fn mutual_list_and_counts(s: DynStore) {
    let a = app();
    s.follow(&a, &uid("me"), &uids(&["m1", "m2", "m3", "one_way"]), T0, 100).await.unwrap();
    s.follow(&a, &uid("m1"), &uids(&["me"]), T0 + 1, 100).await.unwrap();
    s.follow(&a, &uid("m2"), &uids(&["me"]), T0 + 2, 100).await.unwrap();
    s.follow(&a, &uid("m3"), &uids(&["me"]), T0 + 3, 100).await.unwrap();
    s.follow(&a, &uid("fan"), &uids(&["me"]), T0 + 4, 100).await.unwrap();
    let p1 = s.follow_page(&a, &uid("me"), FollowList::Mutual, &first(2)).await.unwrap();
    let p2 = s
        .follow_page(&a, &uid("me"), FollowList::Mutual, &PageRequest { after: p1.next.clone(), limit: 2 })
        .await
        .unwrap();
    let mut all: Vec<String> = p1.items.iter().chain(&p2.items).map(|e| e.user_id.to_string()).collect();
    all.sort();
    assert_eq!(all, vec!["m1", "m2", "m3"]);
    assert!(p2.next.is_none());
    let c = s.follow_counts(&a, &uids(&["me"])).await.unwrap()[0];
    assert_eq!((c.fans, c.following, c.mutual), (4, 4, 3));
}

pub async fn tokens_record_and_kick(s: DynStore) {
    let a = app();
    let rec = |id: &str, p: Platform| TokenRecord {
        token_id: id.into(),
        user_id: uid("u"),
        platform: Some(p),
        expires_at: T0 + 1000,
        kicked: false,
    };
    s.record_token(&a, &rec("t1", Platform::Ios)).await.unwrap();
    s.record_token(&a, &rec("t2", Platform::Web)).await.unwrap();
    assert_eq!(s.kick_tokens(&a, &uid("u"), Some(Platform::Ios)).await.unwrap(), 1);
    assert!(s.token(&a, "t1").await.unwrap().unwrap().kicked);
    assert!(!s.token(&a, "t2").await.unwrap().unwrap().kicked);
    assert_eq!(s.token(&a, "t2").await.unwrap().unwrap().platform, Some(Platform::Web));
    assert!(s.token(&a, "nope").await.unwrap().is_none());
    assert_eq!(s.kick_tokens(&a, &uid("u"), None).await.unwrap(), 1);
    assert_eq!(s.purge_expired_tokens(T0 + 999, 100).await.unwrap(), 0, "not expired yet");
    assert_eq!(s.purge_expired_tokens(T0 + 1000, 100).await.unwrap(), 2);
    assert!(s.token(&a, "t1").await.unwrap().is_none());
}

pub async fn apps_insert_if_absent_keeps_first(s: DynStore) {
    // The whole configuration is kept, dialect sections included.
    let mk = |key: &str| {
        let config = serde_json::json!({"app_id": "default", "api_key": key, "some_dialect": {"secret": key}});
        App::from_config(config.as_object().unwrap().clone()).unwrap()
    };
    let first = s.insert_app_if_absent(&mk("k1")).await.unwrap();
    let second = s.insert_app_if_absent(&mk("k2")).await.unwrap();
    assert_eq!(first.api_key, "k1");
    assert_eq!(second.api_key, "k1", "the first node's credentials win");
    assert_eq!(second.config["some_dialect"]["secret"], "k1");
    assert_eq!(s.load_apps().await.unwrap(), vec![first]);
}

pub async fn apps_are_isolated(s: DynStore) {
    let (a1, a2) = (app(), AppId::parse("t2").unwrap());
    register(&s, &a1, &["u"]).await;
    s.follow(&a1, &uid("u"), &uids(&["v"]), T0, 10).await.unwrap();
    s.subscribe(&a1, &sub("u", &["v"], None, T0), ROOMY).await.unwrap();
    assert!(s.get_users(&a2, &uids(&["u"])).await.unwrap().is_empty());
    assert_eq!(s.relations(&a2, &uid("u"), &uids(&["v"])).await.unwrap(), vec![Relation::None]);
    assert!(s.subscriptions_of(&a2, &uid("u"), KIND, T0, &first(10)).await.unwrap().items.is_empty());
    assert_eq!(s.follow_counts(&a2, &uids(&["v"])).await.unwrap()[0].fans, 0);
}
