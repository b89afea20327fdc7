//! Listing a user's sessions one by one, for dialects whose admin APIs show each connection.

use herald_core::presence::ConnectionRecord;
use herald_core::{AppId, Result, UserId};

use crate::Herald;

impl Herald {
    /// The connection records of each user (live sockets, lingering closes and server-reported platforms: all that
    /// make the user online), in input order, sorted by platform then age; `None` for users not registered.
    pub async fn connections(&self, app: &AppId, users: &[UserId]) -> Result<Vec<Option<Vec<ConnectionRecord>>>> {
        let registered = self.registered(app, users).await?;
        let states = self.registry.get(app, users).await?;
        Ok(states
            .into_iter()
            .zip(registered)
            .map(|(state, registered)| {
                registered.then(|| {
                    let mut records = state.map(|s| s.connections).unwrap_or_default();
                    records.sort_by_key(|c| (c.platform.id(), c.since));
                    records
                })
            })
            .collect())
    }
}
