//! Building a store: its clock, capacity and payload limit.

use std::sync::Arc;

use cachestore_core::raw::url::{StoreUrl, apply};
use cachestore_core::{Clock, Result, SharedClock, SystemClock};

use crate::config::DEFAULT_MAX_PAYLOAD;
use crate::row::{Row, RowKey};
use crate::store::{Inner, MemoryStore};

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()`"]
pub struct MemoryStoreBuilder {
    pub(crate) clock: SharedClock,
    pub(crate) max_capacity_bytes: Option<u64>,
    pub(crate) max_payload: u64,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        MemoryStoreBuilder {
            clock: Arc::new(SystemClock),
            max_capacity_bytes: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

impl MemoryStoreBuilder {
    /// A builder from a store URL: `memory://`, with the options
    /// `capacity_bytes` ([`max_capacity_bytes`](Self::max_capacity_bytes))
    /// and `max_payload`. Any other option is [`Error::Config`](cachestore_core::Error::Config).
    pub fn from_url(url: &str) -> cachestore_core::Result<MemoryStoreBuilder> {
        let mut url = StoreUrl::parse(url)?;
        url.expect_scheme(&[crate::SCHEME])?;
        let mut builder = MemoryStoreBuilder::default();
        builder = apply(builder, url.take_u64("capacity_bytes")?, Self::max_capacity_bytes);
        builder = apply(builder, url.take_u64("max_payload")?, Self::max_payload);
        url.finish()?;
        Ok(builder)
    }

    cachestore_core::raw::builder::setters! {
        /// The clock every phase is judged by. Default: [`SystemClock`].
        clock(clock: impl Clock) => clock = Arc::new(clock);
        /// The clock, already shared.
        shared_clock(clock: SharedClock) => clock;
        /// Bounds the memory the rows take (payload, headers and identity, plus a
        /// small per-row overhead). moka then evicts rows, live ones included,
        /// by its TinyLFU policy, and the store declares
        /// [`Capabilities::evicts_live_rows`](cachestore_core::Capabilities::evicts_live_rows). Default: unbounded.
        max_capacity_bytes(bytes: u64) => max_capacity_bytes = Some(bytes);
        /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`]. Must
        /// be at least 16 MiB, the minimum every backend accepts.
        max_payload(bytes: u64) => max_payload;
    }

    /// Builds the store.
    ///
    /// Fails with [`Error::Config`](cachestore_core::Error::Config) if the payload limit is under 16 MiB.
    pub fn build(self) -> Result<MemoryStore> {
        cachestore_core::raw::builder::check_max_payload(self.max_payload, u64::MAX)?;
        let mut builder = moka::sync::Cache::builder();
        let evicted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        if let Some(bytes) = self.max_capacity_bytes {
            let count = evicted.clone();
            builder = builder
                .weigher(|k: &RowKey, v: &Arc<Row>| v.weight(k))
                .max_capacity(bytes)
                .eviction_listener(move |_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
        }
        Ok(MemoryStore {
            inner: Arc::new(Inner {
                rows: builder.build(),
                clock: self.clock,
                max_payload: self.max_payload,
                bounded: self.max_capacity_bytes.is_some(),
                evicted,
                versions: std::sync::atomic::AtomicU64::new(0),
                tag_index: std::sync::Mutex::default(),
                new_keys: std::sync::atomic::AtomicU64::new(0),
                sorted_keys: std::sync::Mutex::new(None),
            }),
        })
    }
}

#[cfg(test)]
mod url_tests {
    use super::MemoryStoreBuilder;
    use cachestore_core::raw::url::check_refused;

    #[test]
    fn from_url_takes_its_own_options_and_refuses_the_rest() {
        let good = "memory://?capacity_bytes=1048576&max_payload=16777216";
        assert!(MemoryStoreBuilder::from_url(good).is_ok(), "{good}");
        let typo = format!("{good}&typo=1");
        let refused = [
            "memory://?capacity_bytes=lots",
            "sqlite:///x.db",
            concat!("sqlite:///x.db", "?typo=1"),
            typo.as_str(),
        ];
        check_refused(MemoryStoreBuilder::from_url, &refused).unwrap_or_else(|e| panic!("{e}"));
    }
}
