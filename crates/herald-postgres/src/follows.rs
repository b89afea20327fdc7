use async_trait::async_trait;
use deadpool_postgres::Transaction;
use herald_core::follow::{FollowCounts, FollowDone, FollowEdge, FollowList, FollowResult, Relation};
use herald_core::paging::{CursorKey, Page, PageRequest};
use herald_core::store::FollowStore;
use herald_core::{AppId, Error, Millis, Result, UserId};

use crate::PostgresStore;
use crate::pool::{Fail, db, serializable, user_col};

#[async_trait]
impl FollowStore for PostgresStore {
    async fn follow(
        &self,
        app: &AppId,
        follower: &UserId,
        followees: &[UserId],
        now: Millis,
        max_following: u32,
    ) -> Result<Vec<FollowResult>> {
        serializable!(self, |tx| {
            let mut out = Vec::with_capacity(followees.len());
            for followee in followees {
                out.push(follow_one(&tx, app, follower, followee, now, max_following).await?);
            }
            Ok::<_, Fail>(out)
        })
    }

    async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<bool>> {
        serializable!(self, |tx| {
            let mut out = Vec::with_capacity(followees.len());
            for followee in followees {
                out.push(unfollow_one(&tx, app, follower, followee).await?);
            }
            Ok::<_, Fail>(out)
        })
    }

    async fn follow_page(
        &self,
        app: &AppId,
        user: &UserId,
        list: FollowList,
        page: &PageRequest,
    ) -> Result<Page<FollowEdge>> {
        // Newest first: scan the list's index backwards from the cursor.
        let sql = match list {
            FollowList::Fans => {
                "SELECT follower, created_at FROM follows WHERE app = $1 AND followee = $2
                   AND (created_at, follower) < ($3, $4) ORDER BY created_at DESC, follower DESC LIMIT $5"
            }
            FollowList::Following => {
                "SELECT followee, created_at FROM follows WHERE app = $1 AND follower = $2
                   AND (created_at, followee) < ($3, $4) ORDER BY created_at DESC, followee DESC LIMIT $5"
            }
            // Following is bounded per user, so filtering it by the reverse edge is a bounded scan.
            FollowList::Mutual => {
                "SELECT f.followee, f.created_at FROM follows f WHERE f.app = $1 AND f.follower = $2
                   AND (f.created_at, f.followee) < ($3, $4)
                   AND EXISTS (SELECT 1 FROM follows g WHERE g.app = $1 AND g.follower = f.followee AND g.followee = $2)
                 ORDER BY f.created_at DESC, f.followee DESC LIMIT $5"
            }
        };
        let (t, u) = match &page.after {
            Some(k) => (k.time, k.user.as_str()),
            // No stored time reaches i64::MAX, so the user half of the key never decides.
            None => (i64::MAX, ""),
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        let limit = (page.limit + 1) as i64;
        let rows = client.query(&stmt, &[&app.as_str(), &user.as_str(), &t, &u, &limit]).await.map_err(db)?;
        let edges = rows
            .iter()
            .map(|r| Ok(FollowEdge { user_id: user_col(r, 0)?, since: r.get(1) }))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(edges, page.limit, |e: &FollowEdge| CursorKey {
            time: e.since,
            user: e.user_id.clone(),
        }))
    }

    async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Relation>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT follower, followee FROM follows WHERE app = $1 AND (
                     (follower = $2 AND followee = ANY($3)) OR (followee = $2 AND follower = ANY($3)))",
            )
            .await
            .map_err(db)?;
        let ids: Vec<&str> = others.iter().map(UserId::as_str).collect();
        let rows = client.query(&stmt, &[&app.as_str(), &user.as_str(), &ids]).await.map_err(db)?;
        let edges: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(others
            .iter()
            .map(|other| {
                let i_follow = edges.iter().any(|(a, b)| a == user.as_str() && b == other.as_str());
                let follows_me = edges.iter().any(|(a, b)| a == other.as_str() && b == user.as_str());
                Relation::from_edges(i_follow, follows_me)
            })
            .collect())
    }

    async fn follow_counts(&self, app: &AppId, users: &[UserId]) -> Result<Vec<FollowCounts>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT user_id, fans, following, mutual FROM follow_counts WHERE app = $1 AND user_id = ANY($2)",
            )
            .await
            .map_err(db)?;
        let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let rows = client.query(&stmt, &[&app.as_str(), &ids]).await.map_err(db)?;
        Ok(users
            .iter()
            .map(|u| {
                rows.iter()
                    .find(|r| r.get::<_, &str>(0) == u.as_str())
                    .map(|r| FollowCounts {
                        fans: r.get::<_, i64>(1).max(0) as u64,
                        following: r.get::<_, i64>(2).max(0) as u64,
                        mutual: r.get::<_, i64>(3).max(0) as u64,
                    })
                    .unwrap_or_default()
            })
            .collect())
    }
}

async fn edge_exists(tx: &Transaction<'_>, app: &AppId, from: &UserId, to: &UserId) -> Result<bool, Fail> {
    let stmt = tx.prepare_cached("SELECT 1 FROM follows WHERE app = $1 AND follower = $2 AND followee = $3").await?;
    Ok(tx.query_opt(&stmt, &[&app.as_str(), &from.as_str(), &to.as_str()]).await?.is_some())
}

async fn following_count(tx: &Transaction<'_>, app: &AppId, user: &UserId) -> Result<i64, Fail> {
    let stmt = tx.prepare_cached("SELECT following FROM follow_counts WHERE app = $1 AND user_id = $2").await?;
    Ok(tx.query_opt(&stmt, &[&app.as_str(), &user.as_str()]).await?.map(|r| r.get(0)).unwrap_or(0))
}

/// Add deltas to a user's counters, creating its row on first use.
async fn bump(
    tx: &Transaction<'_>,
    app: &AppId,
    user: &UserId,
    fans: i64,
    following: i64,
    mutual: i64,
) -> Result<(), Fail> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO follow_counts (app, user_id, fans, following, mutual) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app, user_id) DO UPDATE SET fans = follow_counts.fans + EXCLUDED.fans,
                 following = follow_counts.following + EXCLUDED.following,
                 mutual = follow_counts.mutual + EXCLUDED.mutual",
        )
        .await?;
    tx.execute(&stmt, &[&app.as_str(), &user.as_str(), &fans, &following, &mutual]).await?;
    Ok(())
}

async fn follow_one(
    tx: &Transaction<'_>,
    app: &AppId,
    follower: &UserId,
    followee: &UserId,
    now: Millis,
    max: u32,
) -> Result<FollowResult, Fail> {
    if follower == followee {
        return Ok(Err(Error::SelfFollow));
    }
    if edge_exists(tx, app, follower, followee).await? {
        return Ok(Ok(FollowDone::AlreadyFollowing));
    }
    if following_count(tx, app, follower).await? >= i64::from(max) {
        return Ok(Err(Error::FollowingLimit { limit: max }));
    }
    let insert =
        tx.prepare_cached("INSERT INTO follows (app, follower, followee, created_at) VALUES ($1, $2, $3, $4)").await?;
    tx.execute(&insert, &[&app.as_str(), &follower.as_str(), &followee.as_str(), &now]).await?;
    let mutual = i64::from(edge_exists(tx, app, followee, follower).await?);
    bump(tx, app, follower, 0, 1, mutual).await?;
    bump(tx, app, followee, 1, 0, mutual).await?;
    Ok(Ok(FollowDone::Followed))
}

async fn unfollow_one(tx: &Transaction<'_>, app: &AppId, follower: &UserId, followee: &UserId) -> Result<bool, Fail> {
    let delete = tx.prepare_cached("DELETE FROM follows WHERE app = $1 AND follower = $2 AND followee = $3").await?;
    let removed = tx.execute(&delete, &[&app.as_str(), &follower.as_str(), &followee.as_str()]).await? == 1;
    if removed {
        let mutual = i64::from(edge_exists(tx, app, followee, follower).await?);
        bump(tx, app, follower, 0, -1, -mutual).await?;
        bump(tx, app, followee, -1, 0, -mutual).await?;
    }
    Ok(removed)
}
