//! Registering, reading and deleting users.

use herald_core::store::{NewUser, UserRecord};
use herald_core::{AppId, Error, Result, UserId};

use crate::{Herald, now_millis};

/// Per user of a register call: whether it was new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterResult {
    pub user_id: UserId,
    pub created: bool,
}

impl Herald {
    pub async fn register_users(&self, app: &AppId, users: &[NewUser]) -> Result<Vec<RegisterResult>> {
        let created = self.store.register_users(app, users, now_millis()).await?;
        Ok(users.iter().zip(created).map(|(u, created)| RegisterResult { user_id: u.user_id.clone(), created }).collect())
    }

    /// The registered users among `ids`, in input order.
    pub async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        let mut records = self.store.get_users(app, ids).await?;
        records.sort_by_key(|r| ids.iter().position(|i| i == &r.user_id));
        Ok(records)
    }

    /// The IDs among `ids` that are not registered, in input order.
    pub async fn missing_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<UserId>> {
        let records = self.store.get_users(app, ids).await?;
        Ok(ids.iter().filter(|id| !records.iter().any(|r| &r.user_id == *id)).cloned().collect())
    }

    /// Fail with the first unregistered ID, if any.
    pub async fn require_users(&self, app: &AppId, ids: &[UserId]) -> Result<()> {
        match self.missing_users(app, ids).await?.into_iter().next() {
            Some(missing) => Err(Error::UserNotFound(missing)),
            None => Ok(()),
        }
    }

    /// Delete users with all their relations, and close their connections. Returns, per input, whether it existed.
    pub async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        let existed = self.store.delete_users(app, ids).await?;
        for (id, existed) in ids.iter().zip(&existed) {
            if *existed {
                self.kick(app, id, None, "user deleted").await?;
            }
        }
        Ok(existed)
    }
}
