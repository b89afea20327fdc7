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

    /// A value as a client would send it: not blank, no surrounding blanks, no commas (those split lists).
    fn value() -> &'static str {
        "[^,\\s]([^,]{0,20}[^,\\s])?"
    }

    proptest::proptest! {
        #[test]
        fn any_body_parses_or_is_refused_without_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), name in ".{0,10}") {
            if let Ok(form) = serde_urlencoded::from_bytes::<Form>(&body) {
                let _ = (form.get(&name), form.list(&name), form.required("userId"), form.int("expiry"));
            }
        }

        #[test]
        fn encoded_pairs_read_back(pairs in proptest::collection::vec(("[a-zA-Z]{1,8}", value()), 0..12)) {
            let body = serde_urlencoded::to_string(&pairs).unwrap();
            let form: Form = serde_urlencoded::from_str(&body).unwrap();
            for (name, _) in &pairs {
                let first = pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
                proptest::prop_assert_eq!(form.get(name), first);
                let all: Vec<&str> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
                proptest::prop_assert_eq!(form.list(name), all);
            }
        }

        /// `subUserIds=a,b` and `subUserIds=a&subUserIds=b` are one list.
        #[test]
        fn comma_lists_and_repeated_keys_are_the_same_list(items in proptest::collection::vec(value(), 1..10)) {
            let joined = serde_urlencoded::to_string([("subUserIds", items.join(","))]).unwrap();
            let repeated = serde_urlencoded::to_string(items.iter().map(|v| ("subUserIds", v)).collect::<Vec<_>>()).unwrap();
            let joined: Form = serde_urlencoded::from_str(&joined).unwrap();
            let repeated: Form = serde_urlencoded::from_str(&repeated).unwrap();
            proptest::prop_assert_eq!(joined.list("subUserIds"), items.iter().map(String::as_str).collect::<Vec<_>>());
            proptest::prop_assert_eq!(repeated.list("subUserIds"), items.iter().map(String::as_str).collect::<Vec<_>>());
        }

        #[test]
        fn integers_read_back(n in proptest::num::i64::ANY) {
            let form: Form = serde_urlencoded::from_str(&serde_urlencoded::to_string([("expiry", n.to_string())]).unwrap()).unwrap();
            proptest::prop_assert_eq!(form.int("expiry").unwrap(), Some(n));
        }
    }
}
