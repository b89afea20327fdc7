//! Registering, reading and deleting users, and the registration rule every other use case applies: a call made
//! by or for a user needs that user registered (the whole call fails with `UserNotFound`), while the other users a
//! batch names get a result of their own.

use std::collections::HashSet;

use herald_core::store::{NewUser, RegisterMode, UserRecord};
use herald_core::{AppId, Error, Result, UserId};

use crate::{Herald, now_millis};

/// Per user of a register call: whether it was new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterResult {
    pub user_id: UserId,
    pub created: bool,
}

impl Herald {
    /// Register users. With [`RegisterMode::AllNew`] one existing ID fails the whole call and creates nobody.
    pub async fn register_users(
        &self,
        app: &AppId,
        users: &[NewUser],
        mode: RegisterMode,
    ) -> Result<Vec<RegisterResult>> {
        let created = self.store.register_users(app, users, now_millis(), mode).await?;
        Ok(users
            .iter()
            .zip(created)
            .map(|(u, created)| RegisterResult { user_id: u.user_id.clone(), created })
            .collect())
    }

    /// Each user's record, in input order; `None` for IDs that are not registered.
    pub async fn get_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<Option<UserRecord>>> {
        let mut records = self.store.get_users(app, ids).await?;
        Ok(ids.iter().map(|id| records.iter().position(|r| &r.user_id == id).map(|i| records.swap_remove(i))).collect())
    }

    /// One registered user's record.
    pub async fn user(&self, app: &AppId, id: &UserId) -> Result<UserRecord> {
        self.get_users(app, std::slice::from_ref(id))
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| Error::UserNotFound(id.clone()))
    }

    /// Per input, whether it is registered.
    pub async fn registered(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        let found = self.registered_set(app, ids).await?;
        Ok(ids.iter().map(|id| found.contains(id)).collect())
    }

    /// Delete users with all their relations, and close their connections. Returns, per input, whether it existed.
    pub async fn delete_users(&self, app: &AppId, ids: &[UserId]) -> Result<Vec<bool>> {
        let existed = self.store.delete_users(app, ids).await?;
        for (id, existed) in ids.iter().zip(&existed) {
            if *existed {
                let closed = self.close_connections(app, id, None, "user deleted").await?;
                self.hub.announce_deleted(app, id).await;
                tracing::info!(%app, user = %id, closed, "deleted a user");
            }
        }
        Ok(existed)
    }

    /// The registered IDs among `ids`.
    pub(crate) async fn registered_set(&self, app: &AppId, ids: &[UserId]) -> Result<HashSet<UserId>> {
        Ok(self.store.get_users(app, ids).await?.into_iter().map(|r| r.user_id).collect())
    }

    /// The registered IDs among `ids`, as a set and in input order.
    pub(crate) async fn registered_in_order(
        &self,
        app: &AppId,
        ids: &[UserId],
    ) -> Result<(HashSet<UserId>, Vec<UserId>)> {
        let registered = self.registered_set(app, ids).await?;
        let in_order = ids.iter().filter(|id| registered.contains(*id)).cloned().collect();
        Ok((registered, in_order))
    }

    /// The rule for the user a call is made by or for: it must be registered.
    pub(crate) async fn require_registered(&self, app: &AppId, user: &UserId) -> Result<()> {
        self.require_all_registered(app, std::slice::from_ref(user)).await
    }

    /// Fail with the first of `ids` that is not registered, if any.
    pub(crate) async fn require_all_registered(&self, app: &AppId, ids: &[UserId]) -> Result<()> {
        let found = self.registered_set(app, ids).await?;
        match ids.iter().find(|id| !found.contains(*id)) {
            Some(missing) => Err(Error::UserNotFound(missing.clone())),
            None => Ok(()),
        }
    }
}
