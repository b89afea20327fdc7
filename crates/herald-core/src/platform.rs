//! The client platforms a connection can be on, with the numeric IDs the vendor APIs share.

use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Platform {
    Ios,
    Android,
    Windows,
    Macos,
    Web,
    MiniWeb,
    Linux,
    AndroidPad,
    Ipad,
    HarmonyOs,
}

impl Platform {
    pub const ALL: [Platform; 10] = [
        Platform::Ios,
        Platform::Android,
        Platform::Windows,
        Platform::Macos,
        Platform::Web,
        Platform::MiniWeb,
        Platform::Linux,
        Platform::AndroidPad,
        Platform::Ipad,
        Platform::HarmonyOs,
    ];

    /// The numeric platform ID the vendor APIs share. 10 is not a platform: one vendor uses it for admin tokens.
    pub fn id(self) -> u8 {
        match self {
            Platform::Ios => 1,
            Platform::Android => 2,
            Platform::Windows => 3,
            Platform::Macos => 4,
            Platform::Web => 5,
            Platform::MiniWeb => 6,
            Platform::Linux => 7,
            Platform::AndroidPad => 8,
            Platform::Ipad => 9,
            Platform::HarmonyOs => 11,
        }
    }

    /// Herald's own name, as used in the native API and the WebSocket URL.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Web => "web",
            Platform::MiniWeb => "miniweb",
            Platform::Linux => "linux",
            Platform::AndroidPad => "androidpad",
            Platform::Ipad => "ipad",
            Platform::HarmonyOs => "harmonyos",
        }
    }

    pub fn from_id(id: i64) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| i64::from(p.id()) == id)
            .ok_or_else(|| Error::invalid("platform", format!("unknown platform ID {id}")))
    }

    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::invalid(
                    "platform",
                    format!("unknown platform {name:?}; expected one of ios android windows macos web miniweb linux androidpad ipad harmonyos"),
                )
            })
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Platform::from_name(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_id(p.id().into()).unwrap(), p);
            assert_eq!(Platform::from_name(p.name()).unwrap(), p);
        }
        assert!(Platform::from_id(10).is_err(), "10 is an admin pseudo-platform");
        assert!(Platform::from_name("symbian").is_err());
    }
}
