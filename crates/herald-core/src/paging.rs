//! Cursor paging. A cursor is the key of the last item a page returned, encoded opaquely; the next page starts
//! strictly after it on an index, so pages stay stable while rows are added or removed elsewhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Millis, Result, UserId};

/// The position of an item in a list ordered by (time, user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorKey {
    pub time: Millis,
    pub user: UserId,
}

impl CursorKey {
    /// The opaque wire form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.time, self.user.as_str()))
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor", "not a cursor this server issued");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (time, user) = text.split_once(':').ok_or_else(bad)?;
        Ok(Self { time: time.parse().map_err(|_| bad())?, user: UserId::parse(user).map_err(|_| bad())? })
    }

    /// Decode an optional cursor where an empty string means "first page".
    pub fn decode_opt(raw: Option<&str>) -> Result<Option<Self>> {
        match raw {
            None | Some("") => Ok(None),
            Some(raw) => Self::decode(raw).map(Some),
        }
    }
}

/// Where a page starts and how long it may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<CursorKey>,
    pub limit: usize,
}

/// One page of a list; `next` is `None` on the last page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<CursorKey>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows read in order: the extra row only proves there is more.
    pub fn from_overfetch(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> CursorKey) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let k = CursorKey { time: 1712909941322, user: UserId::parse("a:b").unwrap() };
        assert_eq!(CursorKey::decode(&k.encode()).unwrap(), k);
        assert!(CursorKey::decode("!!").is_err());
        assert!(CursorKey::decode(&URL_SAFE_NO_PAD.encode("nocolon")).is_err());
        assert_eq!(CursorKey::decode_opt(Some("")).unwrap(), None);
    }

    #[test]
    fn overfetch_sets_next_only_when_more() {
        let key = |t: &i64| CursorKey { time: *t, user: UserId::parse("u").unwrap() };
        let p = Page::from_overfetch(vec![1, 2, 3], 2, key);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.unwrap().time, 2);
        let p = Page::from_overfetch(vec![1, 2], 2, key);
        assert!(p.next.is_none());
    }
}
