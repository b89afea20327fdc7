//! Where events go besides subscribers: webhook dispatchers registered by the adapters.

use std::sync::Arc;

use herald_core::event::{FollowEvent, PresenceEvent};

use crate::Herald;

/// Receives every change this node makes. Implementations must return at once (queue, never wait on I/O):
/// they are called on the path of the change itself.
pub trait EventSink: Send + Sync {
    fn presence_changed(&self, _event: &Arc<PresenceEvent>) {}
    fn follow_changed(&self, _event: &FollowEvent) {}
}

impl Herald {
    pub fn add_event_sink(&self, sink: Arc<dyn EventSink>) {
        self.sinks.write().push(sink);
    }

    pub(crate) fn emit_presence(&self, event: &Arc<PresenceEvent>) {
        for sink in self.sinks.read().iter() {
            sink.presence_changed(event);
        }
    }

    pub(crate) fn emit_follow(&self, event: &FollowEvent) {
        for sink in self.sinks.read().iter() {
            sink.follow_changed(event);
        }
    }
}
