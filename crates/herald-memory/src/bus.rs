use std::sync::OnceLock;

use async_trait::async_trait;
use dashmap::DashMap;
use herald_core::Result;
use herald_core::bus::{Bus, BusHandler, BusMessage, Topic};

/// The bus of a single node: publishing calls the handler directly when the topic is listened to.
#[derive(Default)]
pub struct MemoryBus {
    listened: DashMap<Topic, usize>,
    handler: OnceLock<BusHandler>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, message: BusMessage) -> Result<()> {
        if self.listened.contains_key(&message.topic())
            && let Some(handler) = self.handler.get()
        {
            handler(message);
        }
        Ok(())
    }

    async fn listen_many(&self, topics: Vec<Topic>) -> Result<()> {
        for topic in topics {
            *self.listened.entry(topic).or_insert(0) += 1;
        }
        Ok(())
    }

    async fn unlisten_many(&self, topics: Vec<Topic>) -> Result<()> {
        for topic in topics {
            self.listened.remove_if_mut(&topic, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
        Ok(())
    }

    fn set_handler(&self, handler: BusHandler) {
        let _ = self.handler.set(handler);
    }
}
