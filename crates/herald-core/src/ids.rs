//! Identifier newtypes. Each one validates on construction, so code past the edge never sees a malformed ID.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest user ID accepted, in bytes.
pub const USER_ID_MAX_BYTES: usize = 64;

/// An account ID inside one app: 1..=64 bytes, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: impl Into<String>) -> Result<Self, Error> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(Error::invalid("user_id", "must not be empty"));
        }
        if raw.len() > USER_ID_MAX_BYTES {
            return Err(Error::invalid(
                "user_id",
                format!("must be at most {USER_ID_MAX_BYTES} bytes, got {}", raw.len()),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid("user_id", "must not contain control characters"));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        UserId::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// A tenant. Every record carries one; credentials of one app never reach another's data. The character set
/// excludes the separators of shared keys and channels (`:` in Redis), so no two apps can share a key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AppId(String);

impl AppId {
    pub fn parse(raw: impl Into<String>) -> Result<Self, Error> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if ok { Ok(Self(raw)) } else { Err(Error::invalid("app_id", "must be 1..=64 characters of [A-Za-z0-9_.-]")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AppId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        AppId::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// The server process a connection lives on. A restarted node gets a fresh incarnation in its ID so it never
/// claims the connections of its previous life.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One live session of a user; unique across the cluster because it embeds the node ID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn new(node: &NodeId, seq: u64) -> Self {
        Self(format!("{}:{seq}", node.as_str()))
    }

    /// The connection that stands for a platform reported online by the app server itself.
    pub fn reported(platform: crate::Platform) -> Self {
        Self(format!("reported:{}", platform.id()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
    )*};
}
display_as_str!(UserId, AppId, NodeId, ConnectionId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_bounds() {
        assert!(UserId::parse("alice").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a".repeat(64)).is_ok());
        assert!(UserId::parse("a".repeat(65)).is_err());
        assert!(UserId::parse("bad\nid").is_err());
        assert!(UserId::parse("用户").is_ok());
    }

    #[test]
    fn user_id_deserialize_validates() {
        assert!(serde_json::from_str::<UserId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
    }

    #[test]
    fn app_id_deserialize_validates() {
        assert_eq!(serde_json::from_str::<AppId>("\"app-1.prod_x\"").unwrap().as_str(), "app-1.prod_x");
        // `x:y` would share the Redis keys of app `x` with user IDs starting with `y:`.
        for bad in ["\"x:y\"", "\"\"", "\"a b\"", &format!("\"{}\"", "a".repeat(65))] {
            assert!(serde_json::from_str::<AppId>(bad).is_err(), "{bad} must be rejected");
        }
    }
}
