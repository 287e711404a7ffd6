//! Building a store: its clock, capacity and payload limit.

use std::sync::Arc;

use cachestore_core::{Clock, Error, MIN_PAYLOAD_LIMIT, Result, SharedClock, SystemClock};

use crate::config::DEFAULT_MAX_PAYLOAD;
use crate::row::{Row, RowKey};
use crate::store::{Inner, MemoryStore};

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
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
    /// The clock every phase is judged by. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Bounds the memory the rows take (payload, headers and identity, plus a
    /// small per-row overhead). moka then evicts rows, live ones included,
    /// by its TinyLFU policy, and the store declares
    /// [`Capabilities::evicts_live_rows`](cachestore_core::Capabilities::evicts_live_rows). Default: unbounded.
    pub fn max_capacity_bytes(mut self, bytes: u64) -> Self {
        self.max_capacity_bytes = Some(bytes);
        self
    }

    /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`]. Must
    /// be at least 16 MiB, the minimum every backend accepts.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Builds the store.
    ///
    /// Fails with [`Error::Config`] if the payload limit is under 16 MiB.
    pub fn build(self) -> Result<MemoryStore> {
        if self.max_payload < MIN_PAYLOAD_LIMIT {
            return Err(Error::Config {
                message: format!(
                    "max_payload is {} bytes; every backend must accept at least {MIN_PAYLOAD_LIMIT} (16 MiB)",
                    self.max_payload
                ),
            });
        }
        let mut builder = moka::sync::Cache::builder();
        if let Some(bytes) = self.max_capacity_bytes {
            builder = builder.weigher(|k: &RowKey, v: &Arc<Row>| v.weight(k)).max_capacity(bytes);
        }
        Ok(MemoryStore {
            inner: Arc::new(Inner {
                rows: builder.build(),
                clock: self.clock,
                max_payload: self.max_payload,
                bounded: self.max_capacity_bytes.is_some(),
            }),
        })
    }
}
