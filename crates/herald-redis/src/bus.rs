//! The bus over Redis pub/sub: one channel per topic. Listening is counted locally, so a node subscribes to a
//! channel once however many of its connections care, and unsubscribes when the last one stops.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use herald_core::bus::{Bus, BusHandler, BusMessage, Topic};
use herald_core::{Error, Result};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, PushInfo, PushKind, Value};
use tokio::sync::Mutex;

use crate::keys::Keys;
use crate::{RedisOptions, unavailable};

pub struct RedisBus {
    /// Publishing connection (plain commands).
    publisher: ConnectionManager,
    /// Subscribing connection (RESP3: messages arrive as pushes; channels are resubscribed after a reconnect).
    subscriber: Mutex<(ConnectionManager, HashMap<Topic, usize>)>,
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
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_automatic_resubscription()
            .set_push_sender(move |push: PushInfo| {
                deliver(&deliver_to, push);
                Ok::<(), redis::aio::SendError>(())
            });
        let subscriber = resp3.get_connection_manager_with_config(config).await.map_err(unavailable)?;
        Ok(Self {
            publisher,
            subscriber: Mutex::new((subscriber, HashMap::new())),
            handler,
            keys: Keys::new(&options.prefix),
        })
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

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, message: BusMessage) -> Result<()> {
        let channel = self.keys.channel(&message.topic());
        let payload = serde_json::to_vec(&message).map_err(|e| Error::unavailable(e.to_string()))?;
        let _: i64 = self.publisher.clone().publish(channel, payload).await.map_err(unavailable)?;
        Ok(())
    }

    async fn listen(&self, topic: Topic) -> Result<()> {
        // The lock is held across the command, so a SUBSCRIBE and an UNSUBSCRIBE of one topic never cross.
        let mut guard = self.subscriber.lock().await;
        let (conn, counts) = &mut *guard;
        let n = counts.entry(topic.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            if let Err(e) = conn.subscribe(self.keys.channel(&topic)).await {
                counts.remove(&topic);
                return Err(unavailable(e));
            }
        }
        Ok(())
    }

    async fn unlisten(&self, topic: Topic) -> Result<()> {
        let mut guard = self.subscriber.lock().await;
        let (conn, counts) = &mut *guard;
        let Some(n) = counts.get_mut(&topic) else { return Ok(()) };
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&topic);
            conn.unsubscribe(self.keys.channel(&topic)).await.map_err(unavailable)?;
        }
        Ok(())
    }

    fn set_handler(&self, handler: BusHandler) {
        let _ = self.handler.set(handler);
    }
}
