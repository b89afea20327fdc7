//! `v4/im_open_login_svc/...`: importing, deleting and checking accounts.

use std::sync::Arc;

use herald_core::store::{NewUser, RegisterMode};
use herald_core::{App, Error, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ACCOUNT_NOT_IMPORTED, Fault, Service, code_of};
use super::wire::{check_batch, user_id};
use crate::AppState;

/// Most accounts per multi-import, delete or check.
pub const MAX_ACCOUNTS_PER_CALL: usize = 100;

const S: Service = Service::Account;

#[derive(Deserialize)]
pub struct ImportBody {
    /// `Identifier` in Tencent's older documentation and in clients written against it (timsdk).
    #[serde(rename = "UserID", alias = "Identifier")]
    user_id: String,
    #[serde(rename = "Nick", default)]
    nick: Option<String>,
    #[serde(rename = "FaceUrl", default)]
    face_url: Option<String>,
}

pub async fn import(s: AppState, app: Arc<App>, body: ImportBody) -> Result<Value, Fault> {
    let user = NewUser { user_id: user_id(&body.user_id)?, nickname: body.nick, face_url: body.face_url };
    s.herald.register_users(&app.app_id, &[user], RegisterMode::KeepExisting).await?;
    Ok(json!({}))
}

/// The older form lists IDs (`Accounts`); the newer one accounts with profiles (`AccountList`). One of the two.
#[derive(Deserialize)]
pub struct MultiImportBody {
    #[serde(rename = "Accounts", default)]
    accounts: Option<Vec<String>>,
    #[serde(rename = "AccountList", default)]
    account_list: Option<Vec<ImportBody>>,
}

/// Valid IDs are imported; invalid ones are listed in `FailAccounts`.
pub async fn multi_import(s: AppState, app: Arc<App>, body: MultiImportBody) -> Result<Value, Fault> {
    let accounts: Vec<ImportBody> = match (body.accounts, body.account_list) {
        (Some(ids), None) => {
            check_batch(&ids, "Accounts", MAX_ACCOUNTS_PER_CALL)?;
            ids.into_iter().map(|user_id| ImportBody { user_id, nick: None, face_url: None }).collect()
        }
        (None, Some(list)) => {
            check_batch(&list, "AccountList", MAX_ACCOUNTS_PER_CALL)?;
            list
        }
        _ => return Err(Error::invalid("Accounts", "give either Accounts or AccountList").into()),
    };
    let (valid, failed): (Vec<_>, Vec<_>) =
        accounts.into_iter().map(|a| (user_id(&a.user_id), a)).partition(|(id, _)| id.is_ok());
    let users: Vec<NewUser> = valid
        .into_iter()
        .filter_map(|(id, a)| Some(NewUser { user_id: id.ok()?, nickname: a.nick, face_url: a.face_url }))
        .collect();
    if !users.is_empty() {
        s.herald.register_users(&app.app_id, &users, RegisterMode::KeepExisting).await?;
    }
    let failed: Vec<String> = failed.into_iter().map(|(_, a)| a.user_id).collect();
    Ok(json!({ "FailAccounts": failed }))
}

#[derive(Deserialize)]
pub struct UserItem {
    #[serde(rename = "UserID")]
    user_id: String,
}

#[derive(Deserialize)]
pub struct DeleteBody {
    #[serde(rename = "DeleteItem")]
    items: Vec<UserItem>,
}

pub async fn delete(s: AppState, app: Arc<App>, body: DeleteBody) -> Result<Value, Fault> {
    check_batch(&body.items, "DeleteItem", MAX_ACCOUNTS_PER_CALL)?;
    let parsed: Vec<Result<UserId, Error>> = body.items.iter().map(|i| user_id(&i.user_id)).collect();
    let ids: Vec<UserId> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut existed = s.herald.delete_users(&app.app_id, &ids).await?.into_iter();
    let items: Vec<Value> = body
        .items
        .iter()
        .zip(parsed)
        .map(|(item, id)| {
            let (code, info) = match id {
                Err(e) => (code_of(&e, S), e.to_string()),
                Ok(_) if existed.next() == Some(true) => (0, String::new()),
                Ok(id) => (ACCOUNT_NOT_IMPORTED, Error::UserNotFound(id).to_string()),
            };
            json!({"ResultCode": code, "ResultInfo": info, "UserID": item.user_id})
        })
        .collect();
    Ok(json!({ "ResultItem": items }))
}

#[derive(Deserialize)]
pub struct CheckBody {
    #[serde(rename = "CheckItem")]
    items: Vec<UserItem>,
}

pub async fn check(s: AppState, app: Arc<App>, body: CheckBody) -> Result<Value, Fault> {
    check_batch(&body.items, "CheckItem", MAX_ACCOUNTS_PER_CALL)?;
    let parsed: Vec<Result<UserId, Error>> = body.items.iter().map(|i| user_id(&i.user_id)).collect();
    let ids: Vec<UserId> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut registered = s.herald.registered(&app.app_id, &ids).await?.into_iter();
    let items: Vec<Value> = body
        .items
        .iter()
        .zip(parsed)
        .map(|(item, id)| match id {
            Err(e) => json!({"UserID": item.user_id, "ResultCode": code_of(&e, S), "ResultInfo": e.to_string(), "AccountStatus": "NotImported"}),
            Ok(_) => {
                let status = if registered.next() == Some(true) { "Imported" } else { "NotImported" };
                json!({"UserID": item.user_id, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status})
            }
        })
        .collect();
    Ok(json!({ "ResultItem": items }))
}
