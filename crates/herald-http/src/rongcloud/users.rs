//! `/user/getToken.json` (register a user and issue its client token) and `/user/checkOnline.json`.

use std::sync::Arc;

use herald_core::store::{NewUser, RegisterMode};
use herald_core::{Error, UserId};
use serde_json::{Value, json};

use super::error::RcError;
use super::form::Form;
use super::settings::RongCloudApp;
use crate::AppState;

/// RongCloud's bound on `userId` (Herald counts bytes, as `UserId` does); its bounds on the profile fields, in
/// characters.
const MAX_USER_ID_BYTES: usize = 64;
const MAX_NAME_CHARS: usize = 64;
const MAX_PORTRAIT_CHARS: usize = 1024;

pub async fn get_token(s: AppState, rc: Arc<RongCloudApp>, form: Form) -> Result<Value, RcError> {
    let user_id = user_id(&form)?;
    let name = bounded(&form, "name", MAX_NAME_CHARS)?;
    let portrait = bounded(&form, "portraitUri", MAX_PORTRAIT_CHARS)?;
    let user = NewUser { user_id: user_id.clone(), nickname: name, face_url: portrait };
    s.herald.register_users(&rc.app.app_id, &[user], RegisterMode::KeepExisting).await?;
    let token = super::token::mint(&rc, &user_id)?;
    Ok(json!({"userId": user_id.as_str(), "token": token}))
}

pub async fn check_online(s: AppState, rc: Arc<RongCloudApp>, form: Form) -> Result<Value, RcError> {
    let user_id = user_id(&form)?;
    // RongCloud answers a status for any ID: a user it never registered is offline, not an error (its server SDKs
    // decode only successful answers).
    let presence = s.herald.presences(&rc.app.app_id, None, std::slice::from_ref(&user_id)).await?;
    let online = presence.first().and_then(Option::as_ref).is_some_and(|p| p.view.online);
    Ok(json!({"status": if online { "1" } else { "0" }}))
}

/// The required `userId`: 1005 when longer than RongCloud allows, 1002 when missing or malformed.
fn user_id(form: &Form) -> Result<UserId, RcError> {
    let raw = form.required("userId")?;
    if raw.len() > MAX_USER_ID_BYTES {
        return Err(RcError::too_long(format!("userId is longer than {MAX_USER_ID_BYTES} bytes")));
    }
    Ok(UserId::parse(raw)?)
}

/// An optional text field of at most `max` characters (1005 beyond).
fn bounded(form: &Form, name: &'static str, max: usize) -> Result<Option<String>, RcError> {
    match form.get(name) {
        Some(v) if v.chars().count() > max => Err(RcError::too_long(format!("{name} is longer than {max} characters"))),
        Some(v) if v.chars().any(char::is_control) => {
            Err(Error::invalid(name, "must not contain control characters").into())
        }
        v => Ok(v.map(str::to_owned)),
    }
}
