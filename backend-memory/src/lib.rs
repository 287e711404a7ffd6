//! # cachestore-memory
//!
//! An in-memory [`CacheStore`] on [moka](https://docs.rs/moka): the store for
//! tests (with a [`ManualClock`](cachestore_core::ManualClock)) and for caches
//! that need not outlive the process.
//!
//! Every phase decision uses the store's clock. moka's own expiry runs on its
//! own clock, which cannot be injected (moka-rs/moka#522), so it is not used:
//! moka never drops a row by time; dead rows stay until
//! [`purge_expired`](CacheStore::purge_expired) removes them.
//!
//! An optional size bound ([`MemoryStoreBuilder::max_capacity_bytes`]) lets moka
//! evict rows, live ones included, to stay under it; such a store declares
//! [`Capabilities::evicts_live_rows`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_memory::MemoryStore;
//!
//! let store = MemoryStore::new();
//! store.set("users", "42", "{\"name\":\"Ada\"}".into(), SetOptions::for_duration(Duration::from_secs(60))).await?;
//! let row = store.get("users", "42").await?.expect("fresh");
//! assert_eq!(&row.payload[..], b"{\"name\":\"Ada\"}");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use cachestore_core::raw::{Phase, RowTimes, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Entry, Error, Headers, MIN_PAYLOAD_LIMIT, Page, Result,
    ScanCursor, ScanItem, SetOptions, SharedClock, Stats, SystemClock, async_trait, check_identity,
    check_namespace,
};
use moka::ops::compute::{CompResult, Op};

/// The URL scheme of this backend: `memory://`.
pub const SCHEME: &str = "memory";

/// The default payload limit: 64 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// A row's identity. Ordered by namespace bytes, then key bytes: the scan order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RowKey {
    namespace: Box<str>,
    key: Box<str>,
}

impl RowKey {
    fn new(namespace: &str, key: &str) -> Self {
        RowKey { namespace: namespace.into(), key: key.into() }
    }
}

#[derive(Debug)]
struct Row {
    payload: Bytes,
    headers: Headers,
    times: RowTimes,
}

impl Row {
    fn entry(&self) -> Result<Entry> {
        Entry::from_parts(self.payload.clone(), self.headers.clone(), self.times).ok_or_else(|| {
            Error::Corrupt {
                location: "memory store".into(),
                detail: "a row time is out of range".into(),
                source: None,
            }
        })
    }

    /// Bytes the row holds, for the capacity weigher.
    fn weight(&self, key: &RowKey) -> u32 {
        const OVERHEAD: usize = 96;
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        let total = OVERHEAD + key.namespace.len() + key.key.len() + self.payload.len() + headers;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    clock: SharedClock,
    max_capacity_bytes: Option<u64>,
    max_payload: u64,
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
    /// [`Capabilities::evicts_live_rows`]. Default: unbounded.
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

#[derive(Debug)]
struct Inner {
    rows: moka::sync::Cache<RowKey, Arc<Row>>,
    clock: SharedClock,
    max_payload: u64,
    bounded: bool,
}

/// An in-memory store. Cheap to clone: clones share the same rows.
///
/// Every single-row write (set, delete, and each removal by purge or clear)
/// goes through moka's per-key compute lock, so a purge never removes a row
/// that a concurrent `set` has just made fresh.
///
/// `scan`, `stats`, `purge_expired` and the clears walk every row: O(rows).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An unbounded store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// An unbounded store on `clock`.
    pub fn with_clock(clock: impl Clock) -> Self {
        MemoryStore::builder()
            .clock(clock)
            .build()
            .unwrap_or_else(|_| unreachable!("the default payload limit is valid"))
    }

    /// A builder for the clock, a size bound and the payload limit.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    fn now_ms(&self) -> Result<i64> {
        to_unix_millis(self.inner.clock.now())
    }

    fn read(&self, namespace: &str, key: &str, accept_stale: bool) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        let now = self.now_ms()?;
        let Some(row) = self.inner.rows.get(&RowKey::new(namespace, key)) else {
            return Ok(None);
        };
        match row.times.phase(now) {
            Phase::Fresh => row.entry().map(Some),
            Phase::Stale if accept_stale => row.entry().map(Some),
            _ => Ok(None),
        }
    }

    /// Removes `key` if `remove(phase)` says so, under the key lock, and
    /// returns the phase of the removed row.
    fn remove_if(
        &self,
        key: RowKey,
        now: i64,
        remove: impl FnOnce(Phase) -> bool,
    ) -> Option<Phase> {
        let mut removed = None;
        let result = self.inner.rows.entry(key).and_compute_with(|current| match current {
            Some(row) => {
                let phase = row.value().times.phase(now);
                if remove(phase) {
                    removed = Some(phase);
                    Op::Remove
                } else {
                    Op::Nop
                }
            }
            None => Op::Nop,
        });
        match result {
            CompResult::Removed(_) => removed,
            _ => None,
        }
    }

    /// Removes every row whose key passes `select` and whose phase passes
    /// `remove`; returns how many went for which `count` holds.
    fn remove_where(
        &self,
        select: impl Fn(&RowKey) -> bool,
        remove: impl Fn(Phase) -> bool,
        count: impl Fn(Phase) -> bool,
    ) -> Result<u64> {
        let now = self.now_ms()?;
        let keys: Vec<RowKey> = self
            .inner
            .rows
            .iter()
            .filter(|(k, row)| select(k) && remove(row.times.phase(now)))
            .map(|(k, _)| RowKey::clone(&k))
            .collect();
        let mut n = 0;
        for key in keys {
            if self.remove_if(key, now, &remove).is_some_and(&count) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Runs moka's pending maintenance (eviction under a size bound) now
    /// rather than on a later call. Useful in tests of the size bound.
    pub fn run_pending_tasks(&self) {
        self.inner.rows.run_pending_tasks();
    }

    /// The weighted size moka accounts for, in bytes, when the store is
    /// bounded; the row count otherwise.
    pub fn weighted_size(&self) -> u64 {
        self.inner.rows.weighted_size()
    }
}

/// A scan candidate in a max-heap keeping the `limit` smallest identities.
struct Candidate(Arc<RowKey>, Arc<Row>);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[async_trait]
impl CacheStore for MemoryStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, false)
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, true)
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
    ) -> Result<()> {
        let times = prepare_write(
            self.inner.clock.as_ref(),
            self.inner.max_payload,
            namespace,
            key,
            &payload,
            &options,
        )?;
        let row = Arc::new(Row { payload, headers: options.headers, times });
        self.inner.rows.entry(RowKey::new(namespace, key)).and_compute_with(|_| Op::Put(row));
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        let now = self.now_ms()?;
        Ok(self.remove_if(RowKey::new(namespace, key), now, |_| true).is_some_and(Phase::is_live))
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.remove_where(|_| true, |phase| phase == Phase::Dead, |_| true)
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        check_namespace(namespace)?;
        self.remove_where(|k| &*k.namespace == namespace, |_| true, Phase::is_live)
    }

    async fn clear_all(&self) -> Result<u64> {
        self.remove_where(|_| true, |_| true, Phase::is_live)
    }

    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        if let Some(ns) = namespace {
            check_namespace(ns)?;
        }
        let limit = limit.max(1);
        let now = self.now_ms()?;
        let after = after.map(|c| RowKey::new(&c.namespace, &c.key));
        // Keep the `limit` smallest identities after the cursor: O(rows · log limit).
        let mut heap: BinaryHeap<Candidate> =
            BinaryHeap::with_capacity(limit.saturating_add(1).min(1_024));
        let mut more = false;
        for (k, row) in self.inner.rows.iter() {
            if namespace.is_some_and(|ns| *k.namespace != *ns)
                || after.as_ref().is_some_and(|a| *k <= *a)
                || !row.times.phase(now).is_live()
            {
                continue;
            }
            heap.push(Candidate(k, row));
            if heap.len() > limit {
                heap.pop();
                more = true;
            }
        }
        let mut items = Vec::with_capacity(heap.len());
        for Candidate(k, row) in heap.into_sorted_vec() {
            items.push(ScanItem {
                namespace: k.namespace.to_string(),
                key: k.key.to_string(),
                entry: row.entry()?,
            });
        }
        Ok(Page::from_items(items, more))
    }

    async fn stats(&self) -> Result<Stats> {
        let now = self.now_ms()?;
        let mut stats = Stats::new(true);
        for (k, row) in self.inner.rows.iter() {
            stats.record(&k.namespace, row.times.phase(now), row.payload.len() as u64);
        }
        Ok(stats)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_exact_stats(true)
            .with_evicts_live_rows(self.inner.bounded)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}
