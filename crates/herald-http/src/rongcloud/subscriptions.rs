//! `/user/subscribe/set.json` and `/user/subscribe/query.json`.

use std::collections::HashSet;
use std::sync::Arc;

use herald_core::paging::{CursorKey, PageRequest};
use herald_core::subscription::{Subscription, SubscriptionKind};
use herald_core::{Error, Result, UserId};
use herald_service::UnknownTargets;
use serde_json::{Value, json};

use super::error::RcError;
use super::form::Form;
use super::settings::RongCloudApp;
use crate::AppState;

/// Targets per set call.
const MAX_TARGETS: usize = 200;
/// Subscription lifetime bounds, in seconds (one minute to 30 days).
const MIN_EXPIRY_SECS: i64 = 60;
const MAX_EXPIRY_SECS: i64 = 2_592_000;
const MIN_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

const SUBSCRIBE: i64 = 0;
const CANCEL: i64 = 1;

pub async fn set(s: AppState, rc: Arc<RongCloudApp>, form: Form) -> Result<Value, RcError> {
    let app = &rc.app;
    let subscriber = UserId::parse(form.required("userId")?)?;
    let targets = targets(&form)?;
    let kind = kind(&form)?;
    match form.int("opType")? {
        Some(SUBSCRIBE) => {
            let expiry = expiry(&form)?;
            let result =
                s.herald.subscribe(app, &subscriber, &targets, kind, Some(expiry), UnknownTargets::Reject).await?;
            let at_limit = &result.outcome.targets_at_limit;
            if at_limit.is_empty() {
                Ok(json!({}))
            } else {
                // Not an error: the others are subscribed, and RongCloud answers this with HTTP 200.
                let ids: Vec<&str> = at_limit.iter().map(UserId::as_str).collect();
                Ok(json!({"code": 26021, "subUserIds": ids}))
            }
        }
        Some(CANCEL) => {
            s.herald.unsubscribe(&app.app_id, &subscriber, &targets, kind, UnknownTargets::Reject).await?;
            Ok(json!({}))
        }
        Some(other) => {
            Err(Error::invalid("opType", format!("must be 0 (subscribe) or 1 (cancel), not {other}")).into())
        }
        None => Err(Error::invalid("opType", "is required").into()),
    }
}

pub async fn query(s: AppState, rc: Arc<RongCloudApp>, form: Form) -> Result<Value, RcError> {
    let app = &rc.app;
    let subscriber = UserId::parse(form.required("userId")?)?;
    let kind = kind(&form)?;
    let page_size = form.int("pageSize")?.unwrap_or(MAX_PAGE);
    if !(MIN_PAGE..=MAX_PAGE).contains(&page_size) {
        return Err(Error::invalid("pageSize", format!("must be {MIN_PAGE}..={MAX_PAGE}")).into());
    }
    let token = form.get("pageToken");
    let after =
        CursorKey::decode_opt(token).map_err(|_| Error::invalid("pageToken", "not a token this server issued"))?;
    let request = PageRequest { after, limit: page_size as usize };
    let page = s.herald.subscriptions_of(&app.app_id, &subscriber, kind, &request).await?;
    // The token of the last subscription listed, even on the last page: polling with it later returns exactly
    // the subscriptions made since, which is why the vendor returns one there too.
    let next_token = match page.items.last() {
        Some(last) => CursorKey { time: last.subscribed_at, user: last.target.clone() }.encode(),
        None => token.unwrap_or_default().to_owned(),
    };
    Ok(json!({
        "hasNext": page.next.is_some(),
        "pageToken": next_token,
        "subscriptions": records(&page.items),
    }))
}

/// Group subscriptions made by the same call — same type, time and lifetime — into one record, in list order.
/// A subscription without a lifetime (made through another API) shows `expiry` 0.
fn records(items: &[Subscription]) -> Vec<Value> {
    /// What the subscriptions of one call share: `(subType, subTime, expiry)`.
    type CallKey = (i64, i64, i64);
    let mut groups: Vec<(CallKey, Vec<&str>)> = Vec::new();
    for sub in items {
        let key = (sub.kind.code(), sub.subscribed_at, sub.expiry_secs.unwrap_or(0));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(sub.target.as_str()),
            None => groups.push((key, vec![sub.target.as_str()])),
        }
    }
    groups
        .into_iter()
        .map(|((sub_type, sub_time, expiry), ids)| {
            json!({"subUserIds": ids, "subType": sub_type, "subTime": sub_time, "expiry": expiry})
        })
        .collect()
}

/// `subUserIds`: 1..=200 valid IDs, duplicates folded.
fn targets(form: &Form) -> Result<Vec<UserId>> {
    let raw = form.list("subUserIds");
    if raw.is_empty() {
        return Err(Error::invalid("subUserIds", "is required"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for id in raw {
        if seen.insert(id) {
            out.push(UserId::parse(id)?);
        }
    }
    if out.len() > MAX_TARGETS {
        return Err(Error::TooMany { what: "subUserIds", max: MAX_TARGETS });
    }
    Ok(out)
}

/// `subType`: 1 (online status, the default) or 2 (user profile).
fn kind(form: &Form) -> Result<SubscriptionKind> {
    SubscriptionKind::from_code(form.int("subType")?.unwrap_or(1))
        .map_err(|_| Error::invalid("subType", "must be 1 (online status) or 2 (user profile)"))
}

/// `expiry`: required to subscribe, 60..=2592000 seconds.
fn expiry(form: &Form) -> Result<i64> {
    let secs = form.int("expiry")?.ok_or_else(|| Error::invalid("expiry", "is required when opType is 0"))?;
    if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&secs) {
        return Err(Error::invalid("expiry", format!("must be {MIN_EXPIRY_SECS}..={MAX_EXPIRY_SECS} seconds")));
    }
    Ok(secs)
}
