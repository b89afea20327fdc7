use async_trait::async_trait;
use herald_core::follow::{FollowCounts, FollowDone, FollowEdge, FollowList, FollowResult, Relation};
use herald_core::paging::{CursorKey, Page, PageRequest};
use herald_core::store::FollowStore;
use herald_core::{AppId, Error, Millis, Result, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::conn::JobResult;
use crate::users::user_col;

#[async_trait]
impl FollowStore for SqliteStore {
    async fn follow(
        &self,
        app: &AppId,
        follower: &UserId,
        followees: &[UserId],
        now: Millis,
        max_following: u32,
    ) -> Result<Vec<FollowResult>> {
        let (app, follower, followees) = (app.clone(), follower.clone(), followees.to_vec());
        self.write(move |c| {
            followees.iter().map(|followee| follow_one(c, &app, &follower, followee, now, max_following)).collect()
        })
        .await
    }

    async fn unfollow(&self, app: &AppId, follower: &UserId, followees: &[UserId]) -> Result<Vec<bool>> {
        let (app, follower, followees) = (app.clone(), follower.clone(), followees.to_vec());
        self.write(move |c| followees.iter().map(|followee| unfollow_one(c, &app, &follower, followee)).collect()).await
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
                "SELECT follower, created_at FROM follows WHERE app = :app AND followee = :user
                   AND (created_at, follower) < (:t, :u) ORDER BY created_at DESC, follower DESC LIMIT :limit"
            }
            FollowList::Following => {
                "SELECT followee, created_at FROM follows WHERE app = :app AND follower = :user
                   AND (created_at, followee) < (:t, :u) ORDER BY created_at DESC, followee DESC LIMIT :limit"
            }
            // Following is bounded per user, so filtering it by the reverse edge is a bounded scan.
            FollowList::Mutual => {
                "SELECT f.followee, f.created_at FROM follows f WHERE f.app = :app AND f.follower = :user
                   AND (f.created_at, f.followee) < (:t, :u)
                   AND EXISTS (SELECT 1 FROM follows g WHERE g.app = :app AND g.follower = f.followee AND g.followee = :user)
                 ORDER BY f.created_at DESC, f.followee DESC LIMIT :limit"
            }
        };
        let (app, user, page) = (app.clone(), user.clone(), page.clone());
        let (t, u) = match &page.after {
            Some(k) => (k.time, k.user.as_str().to_owned()),
            // No stored time reaches i64::MAX, so the user half of the key never decides.
            None => (i64::MAX, String::new()),
        };
        self.read(move |c| {
            let rows = c
                .prepare_cached(sql)?
                .query_map(
                    rusqlite::named_params! {
                        ":app": app.as_str(), ":user": user.as_str(), ":t": t, ":u": u,
                        ":limit": (page.limit + 1) as i64,
                    },
                    |r| Ok(FollowEdge { user_id: user_col(r, 0)?, since: r.get(1)? }),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_overfetch(rows, page.limit, |e: &FollowEdge| CursorKey {
                time: e.since,
                user: e.user_id.clone(),
            }))
        })
        .await
    }

    async fn relations(&self, app: &AppId, user: &UserId, others: &[UserId]) -> Result<Vec<Relation>> {
        let (app, user, others) = (app.clone(), user.clone(), others.to_vec());
        self.read(move |c| {
            others
                .iter()
                .map(|other| {
                    let i_follow = edge_exists(c, &app, &user, other)?;
                    let follows_me = edge_exists(c, &app, other, &user)?;
                    Ok(Relation::from_edges(i_follow, follows_me))
                })
                .collect()
        })
        .await
    }

    async fn follow_counts(&self, app: &AppId, users: &[UserId]) -> Result<Vec<FollowCounts>> {
        let (app, users) = (app.clone(), users.to_vec());
        self.read(move |c| users.iter().map(|u| counts(c, &app, u)).collect()).await
    }
}

fn edge_exists(c: &Connection, app: &AppId, from: &UserId, to: &UserId) -> JobResult<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM follows WHERE app = ?1 AND follower = ?2 AND followee = ?3")?
        .query_row(params![app.as_str(), from.as_str(), to.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn counts(c: &Connection, app: &AppId, user: &UserId) -> JobResult<FollowCounts> {
    let row = c
        .prepare_cached("SELECT fans, following, mutual FROM follow_counts WHERE app = ?1 AND user_id = ?2")?
        .query_row(params![app.as_str(), user.as_str()], |r| {
            Ok(FollowCounts {
                fans: r.get::<_, i64>(0)? as u64,
                following: r.get::<_, i64>(1)? as u64,
                mutual: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

/// Add `delta` to one counter of a user, creating its row on first use.
fn bump(c: &Connection, app: &AppId, user: &UserId, column: &str, delta: i64) -> JobResult<()> {
    c.prepare_cached("INSERT OR IGNORE INTO follow_counts (app, user_id) VALUES (?1, ?2)")?
        .execute(params![app.as_str(), user.as_str()])?;
    c.prepare_cached(&format!("UPDATE follow_counts SET {column} = {column} + ?3 WHERE app = ?1 AND user_id = ?2"))?
        .execute(params![app.as_str(), user.as_str(), delta])?;
    Ok(())
}

fn follow_one(
    c: &Connection,
    app: &AppId,
    follower: &UserId,
    followee: &UserId,
    now: Millis,
    max: u32,
) -> JobResult<FollowResult> {
    if follower == followee {
        return Ok(Err(Error::SelfFollow));
    }
    if edge_exists(c, app, follower, followee)? {
        return Ok(Ok(FollowDone::AlreadyFollowing));
    }
    if counts(c, app, follower)?.following >= u64::from(max) {
        return Ok(Err(Error::FollowingLimit { limit: max }));
    }
    c.prepare_cached("INSERT INTO follows (app, follower, followee, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![app.as_str(), follower.as_str(), followee.as_str(), now])?;
    bump(c, app, follower, "following", 1)?;
    bump(c, app, followee, "fans", 1)?;
    if edge_exists(c, app, followee, follower)? {
        bump(c, app, follower, "mutual", 1)?;
        bump(c, app, followee, "mutual", 1)?;
    }
    Ok(Ok(FollowDone::Followed))
}

fn unfollow_one(c: &Connection, app: &AppId, follower: &UserId, followee: &UserId) -> JobResult<bool> {
    let removed = c
        .prepare_cached("DELETE FROM follows WHERE app = ?1 AND follower = ?2 AND followee = ?3")?
        .execute(params![app.as_str(), follower.as_str(), followee.as_str()])?
        == 1;
    if removed {
        bump(c, app, follower, "following", -1)?;
        bump(c, app, followee, "fans", -1)?;
        if edge_exists(c, app, followee, follower)? {
            bump(c, app, follower, "mutual", -1)?;
            bump(c, app, followee, "mutual", -1)?;
        }
    }
    Ok(removed)
}
