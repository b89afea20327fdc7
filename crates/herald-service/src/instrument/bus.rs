//! A [`Bus`] that counts the messages published (and failed) and received, by kind.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::Result;
use herald_core::bus::{Bus, BusHandler, BusMessage, Topic};

use crate::metrics::{BUS_PUBLISH_ERRORS, BUS_PUBLISHED, BUS_RECEIVED};

pub(crate) struct InstrumentedBus(pub Arc<dyn Bus>);

fn kind(message: &BusMessage) -> &'static str {
    match message {
        BusMessage::Presence(_) => "presence",
        BusMessage::Control { .. } => "control",
        BusMessage::UserDeleted { .. } => "user_deleted",
    }
}

#[async_trait]
impl Bus for InstrumentedBus {
    async fn publish(&self, message: BusMessage) -> Result<()> {
        let kind = kind(&message);
        let result = self.0.publish(message).await;
        let name = if result.is_ok() { BUS_PUBLISHED } else { BUS_PUBLISH_ERRORS };
        metrics::counter!(name, "kind" => kind).increment(1);
        result
    }

    async fn listen(&self, topic: Topic) -> Result<()> {
        self.0.listen(topic).await
    }

    async fn unlisten(&self, topic: Topic) -> Result<()> {
        self.0.unlisten(topic).await
    }

    async fn listen_many(&self, topics: Vec<Topic>) -> Result<()> {
        self.0.listen_many(topics).await
    }

    async fn unlisten_many(&self, topics: Vec<Topic>) -> Result<()> {
        self.0.unlisten_many(topics).await
    }

    fn set_handler(&self, handler: BusHandler) {
        self.0.set_handler(Arc::new(move |message| {
            metrics::counter!(BUS_RECEIVED, "kind" => kind(&message)).increment(1);
            handler(message)
        }));
    }
}
