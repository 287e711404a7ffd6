//! A stored row and its identity, as the store keeps them in moka.

use cachestore_core::raw::RowTimes;
use cachestore_core::{Bytes, Entry, Error, Headers, Result, Tags};

/// A row's identity. Ordered by namespace bytes, then key bytes: the scan order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RowKey {
    pub(crate) namespace: Box<str>,
    pub(crate) key: Box<str>,
}

impl RowKey {
    pub(crate) fn new(namespace: &str, key: &str) -> Self {
        RowKey { namespace: namespace.into(), key: key.into() }
    }
}

#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
    pub(crate) times: RowTimes,
    pub(crate) version: u64,
    pub(crate) tags: Tags,
}

impl Row {
    pub(crate) fn entry(&self) -> Result<Entry> {
        let (payload, headers) = (self.payload.clone(), self.headers.clone());
        let entry = Entry::from_versioned_parts(payload, headers, self.times, self.version)
            .ok_or_else(|| Error::Corrupt {
                location: "memory store".into(),
                detail: "a row time is out of range".into(),
                source: None,
            })?;
        Ok(if self.tags.is_empty() { entry } else { entry.with_tags(self.tags.clone()) })
    }

    /// Bytes the row holds, for the capacity weigher.
    pub(crate) fn weight(&self, key: &RowKey) -> u32 {
        const OVERHEAD: usize = 96;
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 24).sum();
        let total =
            OVERHEAD + key.namespace.len() + key.key.len() + self.payload.len() + headers + tags;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: usize, headers: &[(&str, &str)], tags: &[&str]) -> Row {
        Row {
            payload: Bytes::from(vec![0u8; payload]),
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            times: RowTimes { stored_at: 0, expires_at: None, stale_until: None },
            version: 1,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Every byte a row holds weighs: each part adds what it holds (plus
    /// its fixed overhead), whatever else the row has.
    #[test]
    fn a_rows_weight_grows_with_each_part() {
        let key = RowKey::new("ns", "key");
        let base = row(10, &[("etag", "v1")], &["album:1"]);
        let w = |r: &Row, k: &RowKey| i64::from(r.weight(k));
        let plain = w(&base, &key);
        assert!(plain >= (2 + 3 + 10 + 6 + 7), "{plain}");
        assert_eq!(w(&row(11, &[("etag", "v1")], &["album:1"]), &key) - plain, 1, "payload");
        assert_eq!(w(&base, &RowKey::new("nsx", "key")) - plain, 1, "namespace");
        assert_eq!(w(&base, &RowKey::new("ns", "keyx")) - plain, 1, "key");
        let two_headers = row(10, &[("etag", "v1"), ("age", "12")], &["album:1"]);
        assert_eq!(w(&two_headers, &key) - plain, 3 + 2 + 48, "a header");
        let longer_header = row(10, &[("etag", "v12")], &["album:1"]);
        assert_eq!(w(&longer_header, &key) - plain, 1, "a header's value");
        let two_tags = row(10, &[("etag", "v1")], &["album:1", "artist:22"]);
        assert_eq!(w(&two_tags, &key) - plain, 9 + 24, "a tag");
        let longer_tag = row(10, &[("etag", "v1")], &["album:12"]);
        assert_eq!(w(&longer_tag, &key) - plain, 1, "a tag's length");
        let empty = row(0, &[], &[]);
        assert_eq!(w(&empty, &RowKey::new("n", "k")), 96 + 2, "the fixed overhead");
        let huge = Row { payload: Bytes::from(vec![0u8; 1 << 20]), ..row(0, &[], &[]) };
        assert!(huge.weight(&key) > 1 << 20);
    }
}
