//! RongCloud's `application/x-www-form-urlencoded` bodies. Lists come comma-separated (`subUserIds=a,b`, as the
//! docs show) or as repeated keys (`subUserIds=a&subUserIds=b`, as the Node SDK sends); both are accepted.

use herald_core::{Error, Result};
use serde::Deserialize;

/// The decoded pairs of a form body, in order.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).find(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<&str> {
        self.get(name).ok_or_else(|| Error::invalid(name, "is required"))
    }

    /// An optional integer field.
    pub fn int(&self, name: &'static str) -> Result<Option<i64>> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| Error::invalid(name, format!("{v:?} is not an integer"))))
            .transpose()
    }

    /// Every item of a list field, from all its occurrences, split at commas, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merge_commas_and_repeated_keys() {
        let f = Form(serde_urlencoded::from_str("subUserIds=a,b&x=1&subUserIds=c&subUserIds=&userId=%20u%20").unwrap());
        assert_eq!(f.list("subUserIds"), vec!["a", "b", "c"]);
        assert_eq!(f.get("userId"), Some("u"));
        assert_eq!(f.int("x").unwrap(), Some(1));
        assert!(f.required("nope").is_err());
    }
}
