//! The event bus between nodes: presence events on a target's topic, control events on a user's topic.
//! In one process it is a direct call; in a cluster, Redis pub/sub.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::event::PresenceEvent;
use crate::{AppId, Millis, Platform, Result, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    /// Changes of a user's presence; listened to by nodes with subscribers of that user.
    Presence(AppId, UserId),
    /// Commands for a user's connections; listened to by nodes holding them.
    Control(AppId, UserId),
}

/// A command for the nodes holding a user's connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ControlEvent {
    /// The user subscribed to these targets (with their expiry).
    InterestAdded { targets: Vec<(UserId, Option<Millis>)> },
    /// The user no longer subscribes to these targets.
    InterestRemoved { targets: Vec<UserId> },
    /// Close the user's connections (on one platform, or all).
    Kick { platform: Option<Platform>, reason: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BusMessage {
    Presence(Arc<PresenceEvent>),
    Control { app: AppId, user: UserId, event: ControlEvent },
}

impl BusMessage {
    pub fn topic(&self) -> Topic {
        match self {
            BusMessage::Presence(e) => Topic::Presence(e.app.clone(), e.user_id.clone()),
            BusMessage::Control { app, user, .. } => Topic::Control(app.clone(), user.clone()),
        }
    }
}

/// Called for every message on a topic this node listens to.
pub type BusHandler = Arc<dyn Fn(BusMessage) + Send + Sync>;

#[async_trait]
pub trait Bus: Send + Sync {
    /// Deliver to every node listening on the message's topic (this one included).
    async fn publish(&self, message: BusMessage) -> Result<()>;
    /// Start receiving a topic's messages. Listening is counted: each `listen` needs its `unlisten`.
    async fn listen(&self, topic: Topic) -> Result<()>;
    async fn unlisten(&self, topic: Topic) -> Result<()>;
    /// Set the one handler of this node's messages; must be called before the first `listen`.
    fn set_handler(&self, handler: BusHandler);
}
