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
