use async_trait::async_trait;
use deadpool_postgres::Transaction;
use herald_core::paging::{CursorKey, Page, PageRequest};
use herald_core::store::SubscriptionStore;
use herald_core::subscription::{
    SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionKind, SubscriptionLimits,
};
use herald_core::{AppId, Error, Millis, Result, UserId};

use crate::PostgresStore;
use crate::pool::{Fail, db, serializable, user_col};

#[async_trait]
impl SubscriptionStore for PostgresStore {
    async fn subscribe(
        &self,
        app: &AppId,
        request: &SubscribeRequest,
        limits: SubscriptionLimits,
    ) -> Result<SubscribeOutcome> {
        serializable!(self, |tx| subscribe(&tx, app, request, limits).await)
    }

    async fn unsubscribe(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        targets: &[UserId],
    ) -> Result<Vec<UserId>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM subscriptions WHERE app = $1 AND subscriber = $2 AND kind = $3 AND target = ANY($4)
                 RETURNING target",
            )
            .await
            .map_err(db)?;
        let wanted: Vec<&str> = targets.iter().map(UserId::as_str).collect();
        let rows =
            client.query(&stmt, &[&app.as_str(), &subscriber.as_str(), &kind.code(), &wanted]).await.map_err(db)?;
        let gone: Vec<UserId> = rows.iter().map(|r| user_col(r, 0)).collect::<Result<_>>()?;
        // Report in input order, once each, like the embedded store.
        let mut removed = Vec::with_capacity(gone.len());
        for t in targets {
            if gone.contains(t) && !removed.contains(t) {
                removed.push(t.clone());
            }
        }
        Ok(removed)
    }

    async fn subscriptions_of(
        &self,
        app: &AppId,
        subscriber: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let sql = "SELECT target, subscribed_at, expiry_secs, expires_at FROM subscriptions
             WHERE app = $1 AND subscriber = $2 AND kind = $3 AND (expires_at IS NULL OR expires_at > $4)
               AND (subscribed_at, target) > ($5, $6)
             ORDER BY subscribed_at, target LIMIT $7";
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
        let sql = "SELECT subscriber, subscribed_at, expiry_secs, expires_at FROM subscriptions
             WHERE app = $1 AND target = $2 AND kind = $3 AND (expires_at IS NULL OR expires_at > $4)
               AND (subscribed_at, subscriber) > ($5, $6)
             ORDER BY subscribed_at, subscriber LIMIT $7";
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
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM subscriptions WHERE (app, subscriber, kind, target) IN (
                     SELECT app, subscriber, kind, target FROM subscriptions
                     WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)",
            )
            .await
            .map_err(db)?;
        client.execute(&stmt, &[&now, &(max as i64)]).await.map_err(db)
    }
}

impl PostgresStore {
    /// Run one of the two list queries: rows are (other user, subscribed_at, expiry_secs, expires_at).
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        sql: &str,
        app: &AppId,
        user: &UserId,
        kind: SubscriptionKind,
        now: Millis,
        page: &PageRequest,
        build: impl Fn(UserId, Millis, Option<i64>, Option<Millis>) -> Subscription,
    ) -> Result<Page<Subscription>> {
        let (after_time, after_user) = match &page.after {
            Some(k) => (k.time, k.user.as_str()),
            None => (i64::MIN, ""),
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        let limit = (page.limit + 1) as i64;
        let rows = client
            .query(&stmt, &[&app.as_str(), &user.as_str(), &kind.code(), &now, &after_time, &after_user, &limit])
            .await
            .map_err(db)?;
        let items = rows
            .iter()
            .map(|r| Ok(build(user_col(r, 0)?, r.get(1), r.get(2), r.get(3))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit, |s: &Subscription| CursorKey {
            time: s.subscribed_at,
            user: if &s.subscriber == user { s.target.clone() } else { s.subscriber.clone() },
        }))
    }
}

async fn subscribe(
    tx: &Transaction<'_>,
    app: &AppId,
    req: &SubscribeRequest,
    limits: SubscriptionLimits,
) -> Result<SubscribeOutcome, Fail> {
    let kind = req.kind.code();
    let live = tx
        .prepare_cached(
            "SELECT 1 FROM subscriptions WHERE app = $1 AND subscriber = $2 AND kind = $3 AND target = $4
               AND (expires_at IS NULL OR expires_at > $5)",
        )
        .await?;
    let target_count = tx
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM subscriptions WHERE app = $1 AND target = $2 AND kind = $3
               AND (expires_at IS NULL OR expires_at > $4) LIMIT $5) AS held",
        )
        .await?;

    let mut outcome = SubscribeOutcome::default();
    let mut new_pairs = 0u32;
    for target in &req.targets {
        if outcome.subscribed.contains(target) || outcome.targets_at_limit.contains(target) {
            continue;
        }
        let is_live = tx
            .query_opt(&live, &[&app.as_str(), &req.subscriber.as_str(), &kind, &target.as_str(), &req.now])
            .await?
            .is_some();
        if is_live {
            outcome.subscribed.push(target.clone());
            continue;
        }
        let held: i64 = tx
            .query_one(
                &target_count,
                &[&app.as_str(), &target.as_str(), &kind, &req.now, &i64::from(limits.per_target)],
            )
            .await?
            .get(0);
        if held >= i64::from(limits.per_target) {
            outcome.targets_at_limit.push(target.clone());
        } else {
            outcome.subscribed.push(target.clone());
            new_pairs += 1;
        }
    }
    let held: i64 = tx
        .query_one(
            "SELECT count(*) FROM subscriptions WHERE app = $1 AND subscriber = $2 AND kind = $3
               AND (expires_at IS NULL OR expires_at > $4)",
            &[&app.as_str(), &req.subscriber.as_str(), &kind, &req.now],
        )
        .await?
        .get(0);
    if held + i64::from(new_pairs) > i64::from(limits.per_subscriber) {
        return Err(Error::SubscriberLimit { limit: limits.per_subscriber }.into());
    }
    let upsert = tx
        .prepare_cached(
            "INSERT INTO subscriptions (app, subscriber, kind, target, subscribed_at, expiry_secs, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (app, subscriber, kind, target) DO UPDATE SET subscribed_at = EXCLUDED.subscribed_at,
                 expiry_secs = EXCLUDED.expiry_secs, expires_at = EXCLUDED.expires_at",
        )
        .await?;
    let expires_at = req.expires_at();
    for target in &outcome.subscribed {
        tx.execute(
            &upsert,
            &[
                &app.as_str(),
                &req.subscriber.as_str(),
                &kind,
                &target.as_str(),
                &req.now,
                &req.expiry_secs,
                &expires_at,
            ],
        )
        .await?;
    }
    Ok(outcome)
}
