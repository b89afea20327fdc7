//! `/user/user_register`, `/user/get_users_info` and `/user/account_check`.

use std::collections::HashSet;

use herald_core::store::{NewUser, RegisterMode};
use herald_core::{Error, Millis, UserId};
use serde::{Deserialize, Serialize};

use super::error::OpenImError;
use super::wire::{Caller, MAX_USER_IDS, MAX_USERS_PER_REGISTER, OpenImResult, Reply, nullable, user_id, user_ids};
use crate::AppState;

/// Upstream's `sdkws.UserInfo`, as far as a register call carries it.
#[derive(Deserialize)]
pub struct UserInfoIn {
    #[serde(rename = "userID", default, deserialize_with = "nullable")]
    user_id: String,
    #[serde(default, deserialize_with = "nullable")]
    nickname: String,
    #[serde(rename = "faceURL", default, deserialize_with = "nullable")]
    face_url: String,
}

#[derive(Deserialize)]
pub struct UserRegisterReq {
    #[serde(default, deserialize_with = "nullable")]
    users: Vec<UserInfoIn>,
}

/// All or nothing, like upstream: one already registered ID fails the whole call with 1102.
pub async fn user_register(s: AppState, caller: Caller, req: UserRegisterReq) -> OpenImResult {
    if req.users.is_empty() {
        return Err(OpenImError::args("users is empty"));
    }
    if req.users.len() > MAX_USERS_PER_REGISTER {
        return Err(OpenImError::args(format!(
            "users holds {} users; at most {MAX_USERS_PER_REGISTER} per call",
            req.users.len()
        )));
    }
    caller.require_admin()?;
    let mut seen = HashSet::with_capacity(req.users.len());
    let mut users = Vec::with_capacity(req.users.len());
    for u in req.users {
        if u.user_id.contains(':') {
            return Err(OpenImError::args(format!("userID {:?} contains ':', which is invalid", u.user_id)));
        }
        let id = user_id(&u.user_id, "userID")?;
        if !seen.insert(id.clone()) {
            return Err(OpenImError::args(format!("userID {id} repeated")));
        }
        users.push(NewUser {
            user_id: id,
            nickname: Some(u.nickname).filter(|n| !n.is_empty()),
            face_url: Some(u.face_url).filter(|f| !f.is_empty()),
        });
    }
    s.herald.register_users(&caller.app.app_id, &users, RegisterMode::AllNew).await?;
    Ok(Reply::empty())
}

#[derive(Deserialize)]
pub struct GetUsersInfoReq {
    #[serde(rename = "userIDs", default, deserialize_with = "nullable")]
    user_ids: Vec<String>,
}

/// Upstream's `sdkws.UserInfo`; the fields Herald does not keep are written with their zero values.
#[derive(Serialize)]
pub struct UserInfoOut {
    #[serde(rename = "userID")]
    user_id: UserId,
    nickname: String,
    #[serde(rename = "faceURL")]
    face_url: String,
    ex: &'static str,
    #[serde(rename = "createTime")]
    create_time: Millis,
    #[serde(rename = "appMangerLevel")]
    app_manger_level: i32,
    #[serde(rename = "globalRecvMsgOpt")]
    global_recv_msg_opt: i32,
}

#[derive(Serialize)]
pub struct GetUsersInfoResp {
    #[serde(rename = "usersInfo")]
    users_info: Vec<UserInfoOut>,
}

/// Any valid token may read profiles; every ID must be registered (1004 names the first that is not).
pub async fn get_users_info(s: AppState, caller: Caller, req: GetUsersInfoReq) -> OpenImResult {
    let ids = user_ids(&req.user_ids, "userIDs", MAX_USER_IDS)?;
    let records = s.herald.get_users(&caller.app.app_id, &ids).await?;
    let users_info = ids
        .iter()
        .zip(records)
        .map(|(id, r)| {
            let r = r.ok_or_else(|| Error::UserNotFound(id.clone()))?;
            Ok(UserInfoOut {
                user_id: r.user_id.clone(),
                nickname: r.nickname.clone().unwrap_or_default(),
                face_url: r.face_url.clone().unwrap_or_default(),
                ex: "",
                create_time: r.created_at,
                app_manger_level: 0,
                global_recv_msg_opt: 0,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Reply::data(GetUsersInfoResp { users_info })
}

#[derive(Deserialize)]
pub struct AccountCheckReq {
    #[serde(rename = "checkUserIDs", default, deserialize_with = "nullable")]
    check_user_ids: Vec<String>,
}

#[derive(Serialize)]
pub struct AccountStatus {
    #[serde(rename = "userID")]
    user_id: UserId,
    /// 1 registered, 0 not.
    #[serde(rename = "accountStatus")]
    account_status: i32,
}

#[derive(Serialize)]
pub struct AccountCheckResp {
    results: Vec<AccountStatus>,
}

pub async fn account_check(s: AppState, caller: Caller, req: AccountCheckReq) -> OpenImResult {
    let ids = user_ids(&req.check_user_ids, "checkUserIDs", MAX_USER_IDS)?;
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(OpenImError::args("userID repeated"));
    }
    caller.require_admin()?;
    let registered = s.herald.registered(&caller.app.app_id, &ids).await?;
    let results = ids
        .into_iter()
        .zip(registered)
        .map(|(id, registered)| AccountStatus { user_id: id, account_status: i32::from(registered) })
        .collect();
    Reply::data(AccountCheckResp { results })
}
