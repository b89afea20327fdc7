//! The bus over Redis pub/sub: one channel per topic. Listening is counted locally, so a node subscribes to a
//! channel once however many of its connections care, and unsubscribes when the last one stops.
//!
//! SUBSCRIBE and UNSUBSCRIBE go through one task that owns the counts. It takes every request that is waiting,
//! applies them in order, and settles the net change in one SUBSCRIBE and one UNSUBSCRIBE of many channels: a node
//! subscribing a connection to many targets pays one round trip, not one per target, and no caller waits for
//! another's round trips in turn. Being one task, it never lets a SUBSCRIBE and an UNSUBSCRIBE of a topic cross.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::bus::{Bus, BusHandler, BusMessage, Topic};
use herald_core::{Error, Result};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};

use crate::keys::Keys;
use crate::{RedisOptions, once_more_if_dropped, unavailable};

/// Most requests settled by one pair of commands; more wait for the next pair.
const MAX_REQUESTS_PER_BATCH: usize = 512;
/// How soon a failed SUBSCRIBE or UNSUBSCRIBE is tried again when no new request comes.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long the subscribing connection may be idle before it is pinged.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct RedisBus {
    /// Publishing connection (plain commands).
    publisher: ConnectionManager,
    /// Requests to the task that owns the subscribing connection.
    subscriptions: mpsc::UnboundedSender<SubscriptionRequest>,
    handler: Arc<OnceLock<BusHandler>>,
    keys: Keys,
}

impl RedisBus {
    pub async fn connect(options: &RedisOptions) -> Result<Self> {
        options.validate()?;
        let client = redis::Client::open(options.url.as_str()).map_err(unavailable)?;
        let publisher = client.get_connection_manager().await.map_err(unavailable)?;

        let info = client.get_connection_info().clone();
        let settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let resp3 = redis::Client::open(info).map_err(unavailable)?;
        let handler: Arc<OnceLock<BusHandler>> = Arc::new(OnceLock::new());
        let deliver_to = handler.clone();
        let config = redis::aio::ConnectionManagerConfig::new().set_automatic_resubscription().set_push_sender(
            move |push: PushInfo| {
                deliver(&deliver_to, push);
                Ok::<(), redis::aio::SendError>(())
            },
        );
        // Subscribing connection (RESP3: messages arrive as pushes; channels are resubscribed after a reconnect).
        let subscriber = resp3.get_connection_manager_with_config(config).await.map_err(unavailable)?;
        let keys = Keys::new(&options.prefix);
        let (subscriptions, requests) = mpsc::unbounded_channel();
        // The task ends when the bus is dropped: its request channel closes.
        tokio::spawn(SubscriptionTable::new(subscriber, keys.clone()).run(requests));
        Ok(Self { publisher, subscriptions, handler, keys })
    }

    async fn request(&self, change: Change, topics: Vec<Topic>) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let (done, outcome) = oneshot::channel();
        let stopped = || Error::unavailable("redis: the bus subscription task has stopped");
        self.subscriptions.send(SubscriptionRequest { change, topics, done }).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Decode a pushed pub/sub message and hand it to the handler. Runs on the connection's reader: never blocks.
fn deliver(handler: &OnceLock<BusHandler>, push: PushInfo) {
    if push.kind != PushKind::Message {
        return;
    }
    let Some(payload) = push.data.get(1) else { return };
    let bytes = match payload {
        Value::BulkString(b) => b.as_slice(),
        Value::SimpleString(s) => s.as_bytes(),
        _ => return,
    };
    match serde_json::from_slice::<BusMessage>(bytes) {
        Ok(message) => {
            if let Some(h) = handler.get() {
                h(message);
            }
        }
        Err(e) => tracing::warn!(error = %e, "dropping an unreadable bus message"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Listen,
    Unlisten,
}

struct SubscriptionRequest {
    change: Change,
    topics: Vec<Topic>,
    done: oneshot::Sender<Result<()>>,
}

/// What the subscription task owns: the subscribing connection, how many listeners each topic has, and which
/// channels the connection is subscribed to.
struct SubscriptionTable {
    conn: ConnectionManager,
    keys: Keys,
    listeners: HashMap<Topic, usize>,
    subscribed: HashSet<Topic>,
    /// Topics whose subscription may disagree with their listeners: the ones touched by the current batch, and
    /// the ones whose command failed, which are retried with the next batch.
    unsettled: HashSet<Topic>,
    /// Whether the last ping was answered.
    healthy: bool,
}

impl SubscriptionTable {
    fn new(conn: ConnectionManager, keys: Keys) -> Self {
        let (listeners, subscribed, unsettled) = (HashMap::new(), HashSet::new(), HashSet::new());
        Self { conn, keys, listeners, subscribed, unsettled, healthy: true }
    }

    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<SubscriptionRequest>) {
        let mut batch = Vec::new();
        loop {
            let wait = if self.unsettled.is_empty() { HEALTH_CHECK_EVERY } else { RETRY_AFTER };
            match tokio::time::timeout(wait, requests.recv_many(&mut batch, MAX_REQUESTS_PER_BATCH)).await {
                // The bus was dropped.
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => {
                    self.check_health().await;
                    // A failed command is retried with the next requests, or after a while without any.
                    if self.unsettled.is_empty() {
                        continue;
                    }
                }
            }
            self.settle(std::mem::take(&mut batch)).await;
        }
    }

    /// Ping the subscribing connection when it has been idle. A connection that sends nothing would never notice
    /// that it was cut: the ping's failure makes it reconnect, and it then subscribes to its channels again.
    async fn check_health(&mut self) {
        let answered = redis::cmd("PING").query_async::<Value>(&mut self.conn).await.is_ok();
        if answered != self.healthy {
            if answered {
                tracing::info!("the bus is connected to Redis again; its channels are subscribed again");
            } else {
                tracing::warn!(
                    "the bus lost its connection to Redis; reconnecting (events published meanwhile are lost)"
                );
            }
            self.healthy = answered;
        }
    }

    /// Count the requests in order, bring the subscriptions in line with one command each way, and answer.
    async fn settle(&mut self, batch: Vec<SubscriptionRequest>) {
        for request in &batch {
            for topic in &request.topics {
                match request.change {
                    Change::Listen => *self.listeners.entry(topic.clone()).or_insert(0) += 1,
                    Change::Unlisten => {
                        if let Some(n) = self.listeners.get_mut(topic) {
                            *n -= 1;
                            if *n == 0 {
                                self.listeners.remove(topic);
                            }
                        }
                    }
                }
                self.unsettled.insert(topic.clone());
            }
        }
        let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
        for topic in self.unsettled.drain() {
            match (self.listeners.contains_key(&topic), self.subscribed.contains(&topic)) {
                (true, false) => subscribe.push(topic),
                (false, true) => unsubscribe.push(topic),
                _ => {}
            }
        }
        let unsubscribe_error = self.command(Change::Unlisten, &unsubscribe).await.err();
        let subscribe_error = self.command(Change::Listen, &subscribe).await.err();
        match &unsubscribe_error {
            None => {
                for topic in &unsubscribe {
                    self.subscribed.remove(topic);
                }
            }
            Some(e) => {
                tracing::warn!(error = %e, channels = unsubscribe.len(), "bus unsubscribe failed; retrying later");
                self.unsettled.extend(unsubscribe.iter().cloned());
            }
        }
        match &subscribe_error {
            None => self.subscribed.extend(subscribe.iter().cloned()),
            Some(e) => {
                tracing::warn!(error = %e, channels = subscribe.len(), "bus subscribe failed; retrying later");
                self.unsettled.extend(subscribe.iter().cloned());
            }
        }
        for request in batch {
            let (failed, error) = match request.change {
                Change::Listen => (&subscribe, &subscribe_error),
                Change::Unlisten => (&unsubscribe, &unsubscribe_error),
            };
            let outcome = match error {
                Some(e) if request.topics.iter().any(|t| failed.contains(t)) => Err(e.clone()),
                _ => Ok(()),
            };
            // A caller that stopped waiting does not need its answer.
            let _ = request.done.send(outcome);
        }
    }

    async fn command(&mut self, change: Change, topics: &[Topic]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let channels: Vec<String> = topics.iter().map(|t| self.keys.channel(t)).collect();
        let sent = match change {
            Change::Listen => self.conn.subscribe(channels).await,
            Change::Unlisten => self.conn.unsubscribe(channels).await,
        };
        sent.map_err(unavailable)
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, message: BusMessage) -> Result<()> {
        let channel = self.keys.channel(&message.topic());
        let payload = serde_json::to_vec(&message).map_err(|e| Error::unavailable(e.to_string()))?;
        let publish = || {
            let (mut publisher, channel, payload) = (self.publisher.clone(), channel.clone(), payload.clone());
            async move { publisher.publish::<_, _, i64>(channel, payload).await }
        };
        once_more_if_dropped(publish).await.map_err(unavailable)?;
        Ok(())
    }

    async fn listen_many(&self, topics: Vec<Topic>) -> Result<()> {
        self.request(Change::Listen, topics).await
    }

    async fn unlisten_many(&self, topics: Vec<Topic>) -> Result<()> {
        self.request(Change::Unlisten, topics).await
    }

    fn set_handler(&self, handler: BusHandler) {
        let _ = self.handler.set(handler);
    }
}
