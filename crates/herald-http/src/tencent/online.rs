//! `v4/openim/query_online_status`.

use std::sync::Arc;

use herald_core::presence::{PlatformPresence, Presence};
use herald_core::{App, Error};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ACCOUNT_NOT_IMPORTED, Fault, Service, code_of};
use super::platform;
use super::wire::{check_batch, user_id};
use crate::AppState;

pub const MAX_ACCOUNTS_PER_QUERY: usize = 500;

#[derive(Deserialize)]
pub struct QueryBody {
    #[serde(rename = "To_Account")]
    to_accounts: Vec<String>,
    #[serde(rename = "IsNeedDetail", default)]
    is_need_detail: u8,
}

/// Imported accounts go to `QueryResult`; never-imported ones (and malformed IDs) to `ErrorList`.
pub async fn query(s: AppState, app: Arc<App>, body: QueryBody) -> Result<Value, Fault> {
    check_batch(&body.to_accounts, "To_Account", MAX_ACCOUNTS_PER_QUERY)?;
    if body.is_need_detail > 1 {
        return Err(Error::invalid("IsNeedDetail", "must be 0 or 1").into());
    }
    let parsed: Vec<_> = body.to_accounts.iter().map(|raw| user_id(raw)).collect();
    let ids: Vec<_> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut presences = s.herald.presences(&app.app_id, None, &ids).await?.into_iter();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (raw, id) in body.to_accounts.iter().zip(parsed) {
        match id.map(|_| presences.next().flatten()) {
            Ok(Some(p)) => results.push(result(&p, body.is_need_detail == 1)),
            Ok(None) => errors.push(json!({"To_Account": raw, "ErrorCode": ACCOUNT_NOT_IMPORTED})),
            Err(e) => errors.push(json!({"To_Account": raw, "ErrorCode": code_of(&e, Service::OpenIm)})),
        }
    }
    Ok(json!({ "QueryResult": results, "ErrorList": errors }))
}

fn result(p: &Presence, detail: bool) -> Value {
    let status = if !p.view.online {
        "Offline"
    } else if p.view.push_online {
        "PushOnline"
    } else {
        "Online"
    };
    let mut out = json!({"To_Account": p.user_id, "Status": status, "State": status});
    if detail {
        out["Detail"] = p.details.iter().map(detail_of).collect();
    }
    out
}

fn detail_of(d: &PlatformPresence) -> Value {
    let status = if d.background { "PushOnline" } else { "Online" };
    json!({"Platform": platform::name(d.platform), "Status": status})
}
