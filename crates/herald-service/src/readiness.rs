//! Whether this node should get traffic: its backends answer, and it is not draining.

use std::future::Future;
use std::time::Duration;

use herald_core::Result;

use crate::Herald;

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    /// `None` when it passed; what went wrong otherwise.
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub draining: bool,
    pub checks: Vec<Check>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        !self.draining && self.checks.iter().all(|c| c.failure.is_none())
    }
}

impl Herald {
    /// Check the store (a trivial query) and the presence registry, each within `timeout`.
    pub async fn readiness(&self, timeout: Duration) -> Readiness {
        let store = async { self.store.load_apps().await.map(drop) };
        let (store, presence) =
            tokio::join!(check("store", timeout, store), check("presence", timeout, self.registry.ping()));
        Readiness { draining: self.is_draining(), checks: vec![store, presence] }
    }
}

async fn check(name: &'static str, timeout: Duration, probe: impl Future<Output = Result<()>>) -> Check {
    let failure = match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
    };
    Check { name, failure }
}
