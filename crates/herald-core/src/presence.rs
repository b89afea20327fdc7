//! The presence state machine. A user's presence is derived from its connection records and never set by hand;
//! every change goes through [`UserPresence::apply`], which reports whether the derived presence really changed.
//!
//! Flap damping: a closed connection is not removed at once. It lingers with a lease of `grace` milliseconds, still
//! counting as online; a reconnect on the same platform within the lease replaces it silently, and only a lease that
//! runs out changes the derived presence.

use serde::{Deserialize, Serialize};

use crate::{ConnectionId, Error, Millis, NodeId, Platform, Result, UserId};

/// Longest custom status accepted, in bytes.
pub const CUSTOM_STATUS_MAX_BYTES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionSource {
    /// A client session on a node's WebSocket gateway.
    Socket,
    /// A platform the app server reported online, with a TTL.
    Reported,
}

/// Why a presence changed; vendor callbacks translate it into their own reason names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    /// A client connected.
    Connected,
    /// A client closed its connection (or the grace after the close ran out).
    Disconnected,
    /// A client missed its heartbeats, a reported TTL ran out, or its node died.
    TimedOut,
    /// An admin or a newer login kicked the connection.
    Kicked,
    /// The app server reported the user online or offline.
    Reported,
    /// A connection moved between foreground and background.
    Background,
    /// The custom status changed.
    CustomStatus,
}

/// One live (or lingering) session of a user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub platform: Platform,
    pub background: bool,
    pub node: NodeId,
    pub source: ConnectionSource,
    pub since: Millis,
    /// `None` while a live socket on `node` holds the record. A deadline once the record lingers after a close,
    /// or for a reported platform; the record is removed when it passes.
    pub lease_until: Option<Millis>,
    /// Why the record lingers, reported as the cause when its lease runs out.
    pub closing: Option<ChangeCause>,
}

impl ConnectionRecord {
    pub fn socket(id: ConnectionId, node: NodeId, platform: Platform, background: bool, now: Millis) -> Self {
        Self {
            id,
            platform,
            background,
            node,
            source: ConnectionSource::Socket,
            since: now,
            lease_until: None,
            closing: None,
        }
    }
}

/// The presence of one platform of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformPresence {
    pub platform: Platform,
    /// Every connection on this platform is in the background ("push online").
    pub background: bool,
    pub connections: u32,
}

/// What subscribers see of a user: the part of the state whose change is an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceView {
    pub online: bool,
    /// Platforms with a live connection, sorted by platform ID, without duplicates.
    pub platforms: Vec<Platform>,
    /// Online, but only through background connections: reachable by push only.
    pub push_online: bool,
    pub custom_status: Option<String>,
}

/// A user's presence as queries return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: UserId,
    #[serde(flatten)]
    pub view: PresenceView,
    pub details: Vec<PlatformPresence>,
    /// When the user was last online; `None` while online or if never seen.
    pub last_seen: Option<Millis>,
    /// When the current presence began (0 if never seen).
    pub since: Millis,
}

impl Presence {
    pub fn offline(user_id: UserId, last_seen: Option<Millis>) -> Self {
        Self { user_id, view: PresenceView::default(), details: Vec::new(), last_seen, since: last_seen.unwrap_or(0) }
    }
}

/// One change to a user's presence state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PresenceChange {
    Connect(ConnectionRecord),
    /// A socket closed (cause `Disconnected`) or missed its heartbeats (`TimedOut`). With `grace` > 0 it lingers.
    Disconnect {
        id: ConnectionId,
        cause: ChangeCause,
        grace: Millis,
    },
    SetBackground {
        id: ConnectionId,
        background: bool,
    },
    SetCustomStatus(Option<String>),
    /// The app server reports the platform online until `now + ttl`.
    Report {
        platform: Platform,
        ttl: Millis,
        background: bool,
        node: NodeId,
    },
    /// The app server reports the platform (or, with `None`, every reported platform) offline.
    ReportOffline {
        platform: Option<Platform>,
    },
    /// Remove socket connections at once (all, or one platform's). Their sockets are closed by their nodes.
    Kick {
        platform: Option<Platform>,
    },
    /// Remove records whose lease ran out.
    Expire,
    /// Remove every record held by a node that is gone.
    RemoveNode(NodeId),
}

/// The outcome of applying a change: the view before and after, and the cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub before: PresenceView,
    pub after: PresenceView,
    pub cause: ChangeCause,
    /// The platform of the connection that caused the change, when one did.
    pub platform: Option<Platform>,
    /// Records that the change removed (kicked sockets, expired leases).
    pub removed: Vec<ConnectionRecord>,
    /// The per-platform presence after the change.
    pub details: Vec<PlatformPresence>,
}

impl Transition {
    /// Whether subscribers must hear about it: the derived view differs (platform order never does).
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Everything the registry keeps about one user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserPresence {
    pub connections: Vec<ConnectionRecord>,
    pub custom_status: Option<String>,
    pub last_seen: Option<Millis>,
    /// When the derived view last changed.
    pub since: Millis,
}

impl UserPresence {
    pub fn view(&self) -> PresenceView {
        let details = self.details();
        let online = !details.is_empty();
        PresenceView {
            online,
            platforms: details.iter().map(|d| d.platform).collect(),
            push_online: online && details.iter().all(|d| d.background),
            custom_status: if online { self.custom_status.clone() } else { None },
        }
    }

    pub fn details(&self) -> Vec<PlatformPresence> {
        let mut out: Vec<PlatformPresence> = Vec::new();
        for c in &self.connections {
            match out.iter_mut().find(|d| d.platform == c.platform) {
                Some(d) => {
                    d.background &= c.background;
                    d.connections += 1;
                }
                None => out.push(PlatformPresence { platform: c.platform, background: c.background, connections: 1 }),
            }
        }
        out.sort_by_key(|d| d.platform.id());
        out
    }

    pub fn presence(&self, user_id: UserId) -> Presence {
        let view = self.view();
        let last_seen = if view.online { None } else { self.last_seen };
        Presence { user_id, details: self.details(), view, last_seen, since: self.since }
    }

    /// The live sockets that a user's connection limits leave no room for, oldest first: beyond `per_platform`
    /// on one platform, then beyond `per_user` in all. `keep` (the newest connection) is never among them.
    pub fn sockets_over_limits(&self, keep: &ConnectionId, per_platform: u32, per_user: u32) -> Vec<ConnectionId> {
        let mut live: Vec<&ConnectionRecord> = self
            .connections
            .iter()
            .filter(|c| c.source == ConnectionSource::Socket && c.lease_until.is_none() && &c.id != keep)
            .collect();
        // Oldest first; the ID breaks ties so that every node picks the same ones.
        live.sort_by(|a, b| (a.since, &a.id).cmp(&(b.since, &b.id)));
        let kept = self.connections.iter().find(|c| &c.id == keep);
        let mut over = Vec::new();
        if let Some(platform) = kept.map(|c| c.platform) {
            let same: Vec<&ConnectionRecord> = live.iter().copied().filter(|c| c.platform == platform).collect();
            let excess = (same.len() + 1).saturating_sub(per_platform.max(1) as usize);
            over.extend(same.iter().take(excess).map(|c| c.id.clone()));
        }
        let remaining: Vec<&ConnectionRecord> = live.into_iter().filter(|c| !over.contains(&c.id)).collect();
        let excess = (remaining.len() + usize::from(kept.is_some())).saturating_sub(per_user.max(1) as usize);
        over.extend(remaining.iter().take(excess).map(|c| c.id.clone()));
        over
    }

    /// The earliest lease deadline, so a registry can index users by when they next need attention.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.connections.iter().filter_map(|c| c.lease_until).min()
    }

    /// Carry the records of a process that stopped over to the next one, started at `now`: every record lingers
    /// until `allowance` after the later of its own deadline and `now`, so a client that reconnects within the
    /// allowance of the restart changes nothing, and one that does not goes offline once. A socket record that was
    /// still open when the old process stopped lingers as if it had closed then.
    pub fn resume_after_restart(&mut self, now: Millis, allowance: Millis) {
        for c in &mut self.connections {
            c.lease_until = Some(c.lease_until.unwrap_or(now).max(now).saturating_add(allowance));
            c.closing.get_or_insert(ChangeCause::Disconnected);
        }
    }

    /// Whether the registry may forget the user (nothing left but what the store keeps).
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Apply one change at time `now` and report the transition.
    pub fn apply(&mut self, change: PresenceChange, now: Millis) -> Result<Transition> {
        let before = self.view();
        let mut removed = Vec::new();
        let (cause, platform) = match change {
            PresenceChange::Connect(record) => {
                // A new session replaces what lingers of a closed one on the same platform: that is the flap.
                let platform = record.platform;
                self.take(&mut removed, |c| c.platform == platform && c.closing.is_some());
                self.connections.retain(|c| c.id != record.id);
                self.connections.push(record);
                (ChangeCause::Connected, Some(platform))
            }
            PresenceChange::Disconnect { id, cause, grace } => {
                let platform = self.connections.iter().find(|c| c.id == id).map(|c| c.platform);
                if grace > 0 {
                    for c in self.connections.iter_mut().filter(|c| c.id == id) {
                        c.lease_until = Some(now + grace);
                        c.closing = Some(cause);
                    }
                } else {
                    self.take(&mut removed, |c| c.id == id);
                }
                (cause, platform)
            }
            PresenceChange::SetBackground { id, background } => {
                let mut platform = None;
                for c in self.connections.iter_mut().filter(|c| c.id == id) {
                    c.background = background;
                    platform = Some(c.platform);
                }
                (ChangeCause::Background, platform)
            }
            PresenceChange::SetCustomStatus(status) => {
                if let Some(s) = status.as_ref().filter(|s| s.len() > CUSTOM_STATUS_MAX_BYTES) {
                    return Err(Error::invalid(
                        "custom_status",
                        format!("must be at most {CUSTOM_STATUS_MAX_BYTES} bytes, got {}", s.len()),
                    ));
                }
                if !before.online {
                    return Err(Error::invalid("custom_status", "can only be set while the user is online"));
                }
                self.custom_status = status.filter(|s| !s.is_empty());
                (ChangeCause::CustomStatus, None)
            }
            PresenceChange::Report { platform, ttl, background, node } => {
                if ttl <= 0 {
                    return Err(Error::invalid("ttl", "must be positive"));
                }
                let id = ConnectionId::reported(platform);
                self.connections.retain(|c| c.id != id);
                self.connections.push(ConnectionRecord {
                    id,
                    platform,
                    background,
                    node,
                    source: ConnectionSource::Reported,
                    since: now,
                    lease_until: Some(now + ttl),
                    closing: Some(ChangeCause::TimedOut),
                });
                (ChangeCause::Reported, Some(platform))
            }
            PresenceChange::ReportOffline { platform } => {
                self.take(&mut removed, |c| {
                    c.source == ConnectionSource::Reported && platform.is_none_or(|p| p == c.platform)
                });
                (ChangeCause::Reported, platform)
            }
            PresenceChange::Kick { platform } => {
                self.take(&mut removed, |c| {
                    c.source == ConnectionSource::Socket && platform.is_none_or(|p| p == c.platform)
                });
                (ChangeCause::Kicked, platform)
            }
            PresenceChange::Expire => {
                self.take(&mut removed, |c| c.lease_until.is_some_and(|t| t <= now));
                let last = removed.last();
                (last.and_then(|c| c.closing).unwrap_or(ChangeCause::TimedOut), last.map(|c| c.platform))
            }
            PresenceChange::RemoveNode(node) => {
                self.take(&mut removed, |c| c.source == ConnectionSource::Socket && c.node == node);
                (ChangeCause::TimedOut, removed.last().map(|c| c.platform))
            }
        };
        let mut after = self.view();
        if before.online && !after.online {
            self.custom_status = None;
            self.last_seen = Some(now);
            after = self.view();
        }
        if before != after {
            self.since = now;
        }
        Ok(Transition { before, after, cause, platform, removed, details: self.details() })
    }

    fn take(&mut self, removed: &mut Vec<ConnectionRecord>, pred: impl Fn(&ConnectionRecord) -> bool) {
        let mut i = 0;
        while i < self.connections.len() {
            if pred(&self.connections[i]) {
                removed.push(self.connections.remove(i));
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod restart_tests {
    use super::*;

    #[test]
    fn records_resumed_after_a_restart_linger_for_the_allowance_and_keep_the_view() {
        let node = NodeId::new("old");
        let mut p = UserPresence::default();
        let open = ConnectionRecord::socket(ConnectionId::new(&node, 1), node.clone(), Platform::Ios, false, 10);
        p.apply(PresenceChange::Connect(open), 10).unwrap();
        let closed = ConnectionRecord::socket(ConnectionId::new(&node, 2), node.clone(), Platform::Web, false, 10);
        p.apply(PresenceChange::Connect(closed), 10).unwrap();
        let grace = 3_000;
        p.apply(
            PresenceChange::Disconnect { id: ConnectionId::new(&node, 2), cause: ChangeCause::Disconnected, grace },
            1_000,
        )
        .unwrap();
        let view = p.view();

        p.resume_after_restart(2_000, 15_000);
        assert_eq!(p.view(), view, "resuming changes nothing subscribers see");
        // The open socket lingers from the restart; the closed one from its own later deadline.
        let deadlines: Vec<_> = p.connections.iter().map(|c| (c.platform, c.lease_until)).collect();
        assert_eq!(deadlines, [(Platform::Ios, Some(17_000)), (Platform::Web, Some(19_000))]);
        assert!(p.connections.iter().all(|c| c.closing.is_some()));

        let t = p.apply(PresenceChange::Expire, 19_000).unwrap();
        assert!(!t.after.online && t.before.online, "one offline change when the allowance runs out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        NodeId::new("n1")
    }

    fn conn(seq: u64, platform: Platform, now: Millis) -> ConnectionRecord {
        ConnectionRecord::socket(ConnectionId::new(&node(), seq), node(), platform, false, now)
    }

    fn disconnect(seq: u64, grace: Millis) -> PresenceChange {
        PresenceChange::Disconnect { id: ConnectionId::new(&node(), seq), cause: ChangeCause::Disconnected, grace }
    }

    #[test]
    fn first_connection_goes_online_and_second_platform_changes_platforms() {
        let mut p = UserPresence::default();
        let t = p.apply(PresenceChange::Connect(conn(1, Platform::Web, 10)), 10).unwrap();
        assert!(t.changed());
        assert!(t.after.online);
        assert_eq!(t.after.platforms, vec![Platform::Web]);
        let t = p.apply(PresenceChange::Connect(conn(2, Platform::Ios, 11)), 11).unwrap();
        assert!(t.changed());
        assert_eq!(t.after.platforms, vec![Platform::Ios, Platform::Web], "sorted by platform ID");
        let t = p.apply(PresenceChange::Connect(conn(3, Platform::Ios, 12)), 12).unwrap();
        assert!(!t.changed(), "a second connection on a platform already online changes nothing");
    }

    #[test]
    fn reconnect_within_grace_emits_nothing() {
        let mut p = UserPresence::default();
        p.apply(PresenceChange::Connect(conn(1, Platform::Web, 0)), 0).unwrap();
        let t = p.apply(disconnect(1, 1000), 100).unwrap();
        assert!(!t.changed(), "a close only lingers");
        let t = p.apply(PresenceChange::Connect(conn(2, Platform::Web, 500)), 500).unwrap();
        assert!(!t.changed(), "the reconnect replaces the lingering record");
        assert_eq!(p.connections.len(), 1);
        let t = p.apply(PresenceChange::Expire, 5000).unwrap();
        assert!(!t.changed(), "the replacement holds no lease");
    }

    #[test]
    fn lease_running_out_goes_offline_with_last_seen_and_clears_custom_status() {
        let mut p = UserPresence::default();
        p.apply(PresenceChange::Connect(conn(1, Platform::Web, 0)), 0).unwrap();
        p.apply(PresenceChange::SetCustomStatus(Some("busy".into())), 1).unwrap();
        p.apply(disconnect(1, 1000), 100).unwrap();
        let early = p.apply(PresenceChange::Expire, 1099).unwrap();
        assert!(!early.changed());
        let t = p.apply(PresenceChange::Expire, 1100).unwrap();
        assert!(t.changed());
        assert!(!t.after.online);
        assert_eq!(t.cause, ChangeCause::Disconnected);
        assert_eq!(t.after.custom_status, None);
        assert_eq!(p.last_seen, Some(1100));
        assert_eq!(p.custom_status, None);
    }

    #[test]
    fn background_only_is_push_online() {
        let mut p = UserPresence::default();
        p.apply(PresenceChange::Connect(conn(1, Platform::Ios, 0)), 0).unwrap();
        let id = ConnectionId::new(&node(), 1);
        let t = p.apply(PresenceChange::SetBackground { id: id.clone(), background: true }, 1).unwrap();
        assert!(t.changed());
        assert!(t.after.push_online);
        let t = p.apply(PresenceChange::SetBackground { id, background: true }, 2).unwrap();
        assert!(!t.changed());
        p.apply(PresenceChange::Connect(conn(2, Platform::Web, 3)), 3).unwrap();
        assert!(!p.view().push_online, "a foreground connection makes the user fully online");
    }

    #[test]
    fn custom_status_is_bounded_and_needs_presence() {
        let mut p = UserPresence::default();
        assert!(p.apply(PresenceChange::SetCustomStatus(Some("x".into())), 0).is_err());
        p.apply(PresenceChange::Connect(conn(1, Platform::Ios, 0)), 0).unwrap();
        let long = "x".repeat(CUSTOM_STATUS_MAX_BYTES + 1);
        assert!(p.apply(PresenceChange::SetCustomStatus(Some(long)), 1).is_err());
        let t = p.apply(PresenceChange::SetCustomStatus(Some("x".repeat(100))), 1).unwrap();
        assert!(t.changed());
    }

    #[test]
    fn reported_presence_expires_and_can_be_withdrawn() {
        let mut p = UserPresence::default();
        let report = PresenceChange::Report { platform: Platform::Android, ttl: 1000, background: false, node: node() };
        assert!(p.apply(report.clone(), 0).unwrap().changed());
        assert!(!p.apply(report, 500).unwrap().changed(), "a refresh is no change");
        assert!(!p.apply(PresenceChange::Expire, 1400).unwrap().changed(), "the refresh moved the lease");
        let t = p.apply(PresenceChange::Expire, 1500).unwrap();
        assert!(t.changed());
        assert_eq!(t.cause, ChangeCause::TimedOut);

        let report = PresenceChange::Report { platform: Platform::Android, ttl: 1000, background: false, node: node() };
        p.apply(report, 2000).unwrap();
        let t = p.apply(PresenceChange::ReportOffline { platform: None }, 2001).unwrap();
        assert!(t.changed());
        assert!(!t.after.online);
    }

    #[test]
    fn a_new_connection_replaces_the_oldest_beyond_the_limits() {
        let mut p = UserPresence::default();
        for (seq, platform) in [(1, Platform::Web), (2, Platform::Ios), (3, Platform::Web), (4, Platform::Web)] {
            p.apply(PresenceChange::Connect(conn(seq, platform, seq as Millis)), seq as Millis).unwrap();
        }
        let id = |seq| ConnectionId::new(&node(), seq);
        assert_eq!(p.sockets_over_limits(&id(4), 2, 10), vec![id(1)], "two per platform: the oldest web one goes");
        assert_eq!(p.sockets_over_limits(&id(4), 10, 3), vec![id(1)], "three in all: the oldest goes");
        assert_eq!(p.sockets_over_limits(&id(4), 1, 2), vec![id(1), id(3)], "one web connection, two in all");
        assert_eq!(p.sockets_over_limits(&id(4), 1, 1), vec![id(1), id(3), id(2)], "platform first, then all");
        assert!(p.sockets_over_limits(&id(4), 10, 10).is_empty());
        // A lingering close does not count: it is not a live connection.
        p.apply(disconnect(1, 1000), 5).unwrap();
        assert!(p.sockets_over_limits(&id(4), 2, 10).is_empty());
        assert_eq!(p.sockets_over_limits(&id(4), 1, 10), vec![id(3)]);
    }

    #[test]
    fn kick_and_node_loss_remove_sockets_at_once() {
        let mut p = UserPresence::default();
        p.apply(PresenceChange::Connect(conn(1, Platform::Ios, 0)), 0).unwrap();
        p.apply(PresenceChange::Connect(conn(2, Platform::Web, 0)), 0).unwrap();
        let t = p.apply(PresenceChange::Kick { platform: Some(Platform::Ios) }, 1).unwrap();
        assert_eq!(t.after.platforms, vec![Platform::Web]);
        assert_eq!(t.removed.len(), 1);
        let t = p.apply(PresenceChange::RemoveNode(node()), 2).unwrap();
        assert!(!t.after.online);
        assert_eq!(t.cause, ChangeCause::TimedOut);
    }
}
