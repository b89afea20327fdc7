//! `v4/follow/...`: follow, unfollow, relationship check, fans/following/mutual lists and counts.

use std::sync::Arc;

use herald_core::follow::{FollowList, Relation};
use herald_core::paging::{CursorKey, PageRequest};
use herald_core::{App, Error, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{Fault, Service, code_of};
use super::wire::{check_batch, user_id};
use crate::AppState;

/// Most accounts per follow_add, follow_delete and follow_get_info.
pub const MAX_FOLLOWS_PER_CALL: usize = 20;
/// Most accounts per follow_check.
pub const MAX_CHECKS_PER_CALL: usize = 100;
pub const DEFAULT_WANT_NUM: usize = 100;
pub const MAX_WANT_NUM: usize = 1000;

const S: Service = Service::Follow;

#[derive(Deserialize)]
pub struct FollowItem {
    #[serde(rename = "To_Account")]
    to_account: String,
}

#[derive(Deserialize)]
pub struct AddBody {
    #[serde(rename = "From_Account")]
    from_account: String,
    #[serde(rename = "FollowItem")]
    items: Vec<FollowItem>,
}

pub async fn add(s: AppState, app: Arc<App>, body: AddBody) -> Result<Value, Fault> {
    let from = user_id(&body.from_account)?;
    check_batch(&body.items, "FollowItem", MAX_FOLLOWS_PER_CALL)?;
    let targets: Vec<&str> = body.items.iter().map(|i| i.to_account.as_str()).collect();
    let (ids, parsed) = parse_all(&targets);
    let mut results = s.herald.follow(&app, &from, &ids).await?.into_iter();
    let items = result_items(&targets, parsed, |_| results.next().map(|r| r.map(|_| ())).unwrap_or(Ok(())));
    Ok(json!({ "ResultItem": items }))
}

#[derive(Deserialize)]
pub struct AccountsBody {
    #[serde(rename = "From_Account")]
    from_account: String,
    #[serde(rename = "To_Account")]
    to_accounts: Vec<String>,
}

/// Unfollowing someone not followed succeeds (the end state is what was asked); unknown accounts fail their item.
pub async fn delete(s: AppState, app: Arc<App>, body: AccountsBody) -> Result<Value, Fault> {
    let from = user_id(&body.from_account)?;
    check_batch(&body.to_accounts, "To_Account", MAX_FOLLOWS_PER_CALL)?;
    let targets: Vec<&str> = body.to_accounts.iter().map(String::as_str).collect();
    let (ids, parsed) = parse_all(&targets);
    let mut results = s.herald.unfollow(&app.app_id, &from, &ids).await?.into_iter();
    let items = result_items(&targets, parsed, |_| results.next().map(|r| r.map(drop)).unwrap_or(Ok(())));
    Ok(json!({ "ResultItem": items }))
}

pub async fn check(s: AppState, app: Arc<App>, body: AccountsBody) -> Result<Value, Fault> {
    let from = user_id(&body.from_account)?;
    check_batch(&body.to_accounts, "To_Account", MAX_CHECKS_PER_CALL)?;
    let targets: Vec<&str> = body.to_accounts.iter().map(String::as_str).collect();
    let (ids, parsed) = parse_all(&targets);
    let mut relations = s.herald.relations(&app.app_id, &from, &ids).await?.into_iter();
    let items: Vec<Value> = targets
        .iter()
        .zip(parsed)
        .map(|(raw, id)| {
            let outcome = id.and_then(|_| relations.next().unwrap_or(Ok(Relation::None)).map(Relation::bits));
            match outcome {
                Ok(bits) => json!({"To_Account": raw, "ResultCode": 0, "ResultInfo": "", "FollowType": bits}),
                Err(e) => json!({"To_Account": raw, "ResultCode": code_of(&e, S), "ResultInfo": e.to_string(), "FollowType": 0}),
            }
        })
        .collect();
    Ok(json!({ "ResultItem": items }))
}

#[derive(Deserialize)]
pub struct GetBody {
    #[serde(rename = "From_Account")]
    from_account: String,
    #[serde(rename = "FollowType")]
    follow_type: i64,
    #[serde(rename = "StartCursor", default)]
    start_cursor: Option<String>,
    #[serde(rename = "WantNum", default)]
    want_num: Option<i64>,
}

/// One page of fans (1), following (2) or mutual (3), newest first. `NextCursor` is empty on the last page.
pub async fn get(s: AppState, app: Arc<App>, body: GetBody) -> Result<Value, Fault> {
    let from = user_id(&body.from_account)?;
    let list = match body.follow_type {
        1 => FollowList::Fans,
        2 => FollowList::Following,
        3 => FollowList::Mutual,
        other => return Err(Error::invalid("FollowType", format!("must be 1, 2 or 3, not {other}")).into()),
    };
    let limit = match body.want_num {
        None => DEFAULT_WANT_NUM,
        Some(n) if (1..=MAX_WANT_NUM as i64).contains(&n) => n as usize,
        Some(n) => return Err(Error::invalid("WantNum", format!("must be 1..={MAX_WANT_NUM}, not {n}")).into()),
    };
    let after = CursorKey::decode_opt(body.start_cursor.as_deref())?;
    let page = s.herald.follow_page(&app.app_id, &from, list, &PageRequest { after, limit }).await?;
    let items: Vec<Value> =
        page.items.iter().map(|e| json!({"To_Account": e.user_id, "FollowTime": e.since.div_euclid(1000)})).collect();
    Ok(json!({ "FollowItem": items, "NextCursor": page.next.map(|k| k.encode()).unwrap_or_default() }))
}

pub async fn get_info(s: AppState, app: Arc<App>, body: AccountsBody) -> Result<Value, Fault> {
    let from = user_id(&body.from_account)?;
    check_batch(&body.to_accounts, "To_Account", MAX_FOLLOWS_PER_CALL)?;
    let targets: Vec<&str> = body.to_accounts.iter().map(String::as_str).collect();
    let (ids, parsed) = parse_all(&targets);
    let mut counts = s.herald.follow_counts(&app.app_id, Some(&from), &ids).await?.into_iter();
    let infos: Vec<Value> = targets
        .iter()
        .zip(parsed)
        .map(|(raw, id)| {
            let outcome = id.and_then(|_| counts.next().unwrap_or(Ok(Default::default())));
            let (code, info, c) = match outcome {
                Ok(c) => (0, String::new(), c),
                Err(e) => (code_of(&e, S), e.to_string(), Default::default()),
            };
            json!({
                "To_Account": raw,
                "ResultCode": code,
                "ResultInfo": info,
                "FollowerCount": c.fans,
                "FollowingCount": c.following,
                "MutualFollowingCount": c.mutual,
            })
        })
        .collect();
    Ok(json!({ "FollowInfo": infos }))
}

/// Parse each target; the valid ones in order, and per target its parse result.
fn parse_all(targets: &[&str]) -> (Vec<UserId>, Vec<Result<UserId, Error>>) {
    let parsed: Vec<Result<UserId, Error>> = targets.iter().map(|t| user_id(t)).collect();
    (parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect(), parsed)
}

/// `ResultItem[{To_Account, ResultCode, ResultInfo}]`; `outcome` is asked once per valid target, in order.
fn result_items(
    targets: &[&str],
    parsed: Vec<Result<UserId, Error>>,
    mut outcome: impl FnMut(&UserId) -> Result<(), Error>,
) -> Vec<Value> {
    targets
        .iter()
        .zip(parsed)
        .map(|(raw, id)| match id.and_then(|id| outcome(&id)) {
            Ok(()) => json!({"To_Account": raw, "ResultCode": 0, "ResultInfo": ""}),
            Err(e) => json!({"To_Account": raw, "ResultCode": code_of(&e, S), "ResultInfo": e.to_string()}),
        })
        .collect()
}
