//! The event bus between nodes: presence events on a target's topic, control events on a user's topic.
//! In one process it is a direct call; in a cluster, Redis pub/sub.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::event::PresenceEvent;
use crate::presence::PresenceView;
use crate::{AppId, ConnectionId, Millis, NodeId, Platform, Result, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    /// Changes of a user's presence; listened to by nodes with subscribers of that user.
    Presence(AppId, UserId),
    /// Commands for a user's connections; listened to by nodes holding them.
    Control(AppId, UserId),
}

/// A command for the nodes holding a user's connections.
///
/// Interest events tell the other nodes that the user's subscriptions changed. `origin` is the node that changed
/// them: it has applied the change to its own connections already, so it ignores the echo. Concurrent changes made
/// through different nodes are published in no particular order, so a receiving node does not apply the listed
/// targets as deltas; it re-reads the user's subscriptions, which the store keeps in commit order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ControlEvent {
    /// The user subscribed to these targets.
    InterestAdded { origin: NodeId, targets: Vec<AddedTarget> },
    /// The user no longer subscribes to these targets.
    InterestRemoved { origin: NodeId, targets: Vec<UserId> },
    /// Close the user's connections (on one platform, or all).
    Kick { platform: Option<Platform>, reason: String },
    /// Close one of the user's connections.
    Close { connection: ConnectionId, reason: String },
}

/// A target of a new subscription, with the presence the subscribe call answered. A node that starts watching
/// the target later (it holds the subscriber's connections, another node took the call) compares it with the
/// presence it then reads, and delivers a change that happened in between, which it could not hear yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddedTarget {
    pub user_id: UserId,
    pub expires_at: Option<Millis>,
    pub answered: PresenceView,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BusMessage {
    Presence(Arc<PresenceEvent>),
    Control {
        app: AppId,
        user: UserId,
        event: ControlEvent,
    },
    /// The user was deleted, with its subscriptions both ways. Sent on the user's presence topic, so it reaches
    /// exactly the nodes whose connections watch the user; they re-read those subscribers' subscriptions.
    UserDeleted {
        app: AppId,
        user: UserId,
    },
}

impl BusMessage {
    pub fn topic(&self) -> Topic {
        match self {
            BusMessage::Presence(e) => Topic::Presence(e.app.clone(), e.user_id.clone()),
            BusMessage::Control { app, user, .. } => Topic::Control(app.clone(), user.clone()),
            BusMessage::UserDeleted { app, user } => Topic::Presence(app.clone(), user.clone()),
        }
    }
}

/// Called for every message on a topic this node listens to.
pub type BusHandler = Arc<dyn Fn(BusMessage) + Send + Sync>;

#[async_trait]
pub trait Bus: Send + Sync {
    /// Deliver to every node listening on the message's topic (this one included).
    async fn publish(&self, message: BusMessage) -> Result<()>;
    /// Start receiving a topic's messages; once it returns, every message published afterwards arrives.
    /// Listening is counted: each `listen` needs its `unlisten`, also a `listen` that failed (a failed topic
    /// stays counted, and the bus retries it).
    async fn listen(&self, topic: Topic) -> Result<()> {
        self.listen_many(vec![topic]).await
    }
    async fn unlisten(&self, topic: Topic) -> Result<()> {
        self.unlisten_many(vec![topic]).await
    }
    /// [`Bus::listen`] to each topic, in as few round trips as the bus can (a connection watching many targets
    /// starts listening to all of them at once).
    async fn listen_many(&self, topics: Vec<Topic>) -> Result<()>;
    /// [`Bus::unlisten`] each topic.
    async fn unlisten_many(&self, topics: Vec<Topic>) -> Result<()>;
    /// Set the one handler of this node's messages; must be called before the first `listen`.
    fn set_handler(&self, handler: BusHandler);
}
