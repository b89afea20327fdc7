use async_trait::async_trait;
use herald_core::paging::{CursorKey, Page, PageRequest};
use herald_core::store::SubscriptionStore;
use herald_core::subscription::{
    SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits,
};
use herald_core::{AppId, Error, Millis, Result, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::conn::JobResult;
use crate::users::user_col;

const LIVE: &str = "(expires_at IS NULL OR expires_at > :now)";

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn subscribe(
        &self,
        app: &AppId,
        request: &SubscribeRequest,
        limits: SubscriptionLimits,
    ) -> Result<SubscribeOutcome> {
        let (app, req) = (app.clone(), request.clone());
        self.write(move |c| subscribe(c, &app, &req, limits)).await
    }

    async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        targets: &[UserId],
    ) -> Result<Vec<UserId>> {
        let (app, subscriber, targets) = (app.clone(), subscriber.clone(), targets.to_vec());
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "DELETE FROM subscriptions WHERE app = ?1 AND subscriber = ?2 AND kind = ?3 AND target = ?4",
            )?;
            let mut removed = Vec::new();
            for t in targets {
                if stmt.execute(params![app.as_str(), subscriber.as_str(), kind.code(), t.as_str()])? == 1 {
                    removed.push(t);
                }
            }
            Ok(removed)
        })
        .await
    }

    async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let sql = format!(
            "SELECT target, subscribed_at, expiry_secs, expires_at FROM subscriptions
             WHERE app = :app AND subscriber = :user AND kind = :kind AND {LIVE}
               AND (subscribed_at, target) > (:after_time, :after_user)
             ORDER BY subscribed_at, target LIMIT :limit"
        );
        let owner = subscriber.clone();
        self.list(sql, app, subscriber, kind, now, page, move |other, at, secs, exp| Subscription {
            subscriber: owner.clone(),
            target: other,
            kind,
            subscribed_at: at,
            expiry_secs: secs,
            expires_at: exp,
        })
        .await
    }

    async fn subscribers_of(
        &self,
        app: &AppId,
        target: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let sql = format!(
            "SELECT subscriber, subscribed_at, expiry_secs, expires_at FROM subscriptions
             WHERE app = :app AND target = :user AND kind = :kind AND {LIVE}
               AND (subscribed_at, subscriber) > (:after_time, :after_user)
             ORDER BY subscribed_at, subscriber LIMIT :limit"
        );
        let owner = target.clone();
        self.list(sql, app, target, kind, now, page, move |other, at, secs, exp| Subscription {
            subscriber: other,
            target: owner.clone(),
            kind,
            subscribed_at: at,
            expiry_secs: secs,
            expires_at: exp,
        })
        .await
    }

    async fn purge_expired(&self, now: Millis, max: usize) -> Result<u64> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM subscriptions WHERE (app, subscriber, kind, target) IN (
                         SELECT app, subscriber, kind, target FROM subscriptions
                         WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)",
                )?
                .execute(params![now, max as i64])?;
            Ok(n as u64)
        })
        .await
    }
}

impl SqliteStore {
    /// Run one of the two list queries: rows are (other user, subscribed_at, expiry_secs, expires_at).
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        sql: String,
        app: &AppId,
        user: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
        build: impl Fn(UserId, Millis, Option<i64>, Option<Millis>) -> Subscription + Send + 'static,
    ) -> Result<Page<Subscription>> {
        let (app, user, page) = (app.clone(), user.clone(), page.clone());
        let (after_time, after_user) = match &page.after {
            Some(k) => (k.time, k.user.as_str().to_owned()),
            None => (i64::MIN, String::new()),
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(
                    rusqlite::named_params! {
                        ":app": app.as_str(), ":user": user.as_str(), ":kind": kind.code(), ":now": now,
                        ":after_time": after_time, ":after_user": after_user, ":limit": (page.limit + 1) as i64,
                    },
                    |r| Ok(build(user_col(r, 0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_overfetch(rows, page.limit, |s: &Subscription| CursorKey {
                time: s.subscribed_at,
                user: if s.subscriber == user { s.target.clone() } else { s.subscriber.clone() },
            }))
        })
        .await
    }
}

fn subscribe(
    c: &Connection,
    app: &AppId,
    req: &SubscribeRequest,
    limits: SubscriptionLimits,
) -> JobResult<SubscribeOutcome> {
    let kind = req.kind.code();
    let is_live = |target: &UserId| -> rusqlite::Result<bool> {
        c.prepare_cached(
            "SELECT 1 FROM subscriptions WHERE app = ?1 AND subscriber = ?2 AND kind = ?3 AND target = ?4
               AND (expires_at IS NULL OR expires_at > ?5)",
        )?
        .query_row(params![app.as_str(), req.subscriber.as_str(), kind, target.as_str(), req.now], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
    };
    let target_count = |target: &UserId| -> rusqlite::Result<u32> {
        c.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM subscriptions WHERE app = ?1 AND target = ?2 AND kind = ?3
               AND (expires_at IS NULL OR expires_at > ?4) LIMIT ?5)",
        )?
        .query_row(params![app.as_str(), target.as_str(), kind, req.now, limits.per_target], |r| r.get(0))
    };

    let mut outcome = SubscribeOutcome::default();
    let mut new_pairs = 0u32;
    for target in &req.targets {
        if outcome.subscribed.contains(target) || outcome.targets_at_limit.contains(target) {
            continue;
        }
        if is_live(target)? {
            outcome.subscribed.push(target.clone());
        } else if target_count(target)? >= limits.per_target {
            outcome.targets_at_limit.push(target.clone());
        } else {
            outcome.subscribed.push(target.clone());
            new_pairs += 1;
        }
    }
    let held: u32 = c
        .prepare_cached(
            "SELECT count(*) FROM subscriptions WHERE app = ?1 AND subscriber = ?2 AND kind = ?3
               AND (expires_at IS NULL OR expires_at > ?4)",
        )?
        .query_row(params![app.as_str(), req.subscriber.as_str(), kind, req.now], |r| r.get(0))?;
    if held + new_pairs > limits.per_subscriber {
        return Err(Error::SubscriberLimit { limit: limits.per_subscriber }.into());
    }
    let mut upsert = c.prepare_cached(
        "INSERT OR REPLACE INTO subscriptions (app, subscriber, kind, target, subscribed_at, expiry_secs, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for target in &outcome.subscribed {
        upsert.execute(params![
            app.as_str(),
            req.subscriber.as_str(),
            kind,
            target.as_str(),
            req.now,
            req.expiry_secs,
            req.expires_at()
        ])?;
    }
    Ok(outcome)
}
