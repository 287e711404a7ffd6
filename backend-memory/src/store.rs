//! The store and its `CacheStore` implementation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::{Phase, ScanRange, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Condition, Entry, Page, Result, ScanCursor, ScanItem,
    SetOptions, SharedClock, Stats, SystemClock, Tally, TouchOptions, WriteOutcome, async_trait,
    check_identity, check_namespace, check_tag,
};
use moka::ops::compute::{CompResult, Op};

use crate::builder::MemoryStoreBuilder;
use crate::row::{Row, RowKey};

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) rows: moka::sync::Cache<RowKey, Arc<Row>>,
    pub(crate) clock: SharedClock,
    pub(crate) max_payload: u64,
    pub(crate) bounded: bool,
    /// Rows moka evicted to keep the byte bound (`Stats::evicted`).
    pub(crate) evicted: Arc<AtomicU64>,
    /// The last version handed out (CONTRACT.md §7); taken under the
    /// written key's compute lock.
    pub(crate) versions: AtomicU64,
    /// Which rows carry each tag (CONTRACT.md §9). Kept under the written
    /// row's compute lock, so it is exact for rows written and removed
    /// through the store; a row moka evicts leaves its entries behind until
    /// the tag is invalidated (each is checked against its row then).
    pub(crate) tag_index: Mutex<TagIndex>,
    /// Keys put where none was, ever: a scan's sorted keys are reused while
    /// this has not moved.
    pub(crate) new_keys: AtomicU64,
    /// Every key, sorted, as of `new_keys` = `.0`: scans resume in it by
    /// binary search, so a page costs O(page · log rows), not O(rows).
    pub(crate) sorted_keys: Mutex<Option<(u64, SortedKeys)>>,
}

/// Every key of the store, in scan order.
pub(crate) type SortedKeys = Arc<Vec<Arc<RowKey>>>;

/// Tag to the identities of the rows carrying it.
pub(crate) type TagIndex = HashMap<Box<str>, HashSet<RowKey>>;

/// An in-memory store. Cheap to clone: clones share the same rows.
///
/// Every single-row write (set, delete, and each removal by purge or clear)
/// goes through moka's per-key compute lock, so a purge never removes a row
/// that a concurrent `set` has just made fresh.
///
/// `stats`, `purge_expired` and the clears walk every row: O(rows). A scan
/// sorts the keys once (O(rows · log rows)) and reuses them while no key is
/// added, each page then costing O(page · log rows).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore_core::Result<()> {
/// use cachestore_core::{Bytes, CacheStore, SetOptions};
/// use cachestore_memory::MemoryStore;
///
/// // At most ~64 MiB of rows; moka evicts beyond that.
/// let store = MemoryStore::builder().max_capacity_bytes(64 << 20).build()?;
/// store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await?;
/// assert_eq!(&store.get("ns", "k").await?.expect("row").payload[..], b"v");
/// assert!(store.capabilities().evicts_live_rows);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    pub(crate) inner: Arc<Inner>,
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

    /// A new version, greater than every one before.
    fn next_version(&self) -> u64 {
        self.inner.versions.fetch_add(1, AtomicOrdering::Relaxed) + 1
    }

    /// Moves `key`'s tag entries from `old`'s tags to `new`'s. Called under
    /// the key's compute lock; takes the index lock only when a row has tags.
    fn reindex(&self, key: &RowKey, old: Option<&Row>, new: Option<&Row>) {
        let none = cachestore_core::Tags::new();
        let old = old.map_or(&none, |r| &r.tags);
        let new = new.map_or(&none, |r| &r.tags);
        if old.is_empty() && new.is_empty() {
            return;
        }
        let mut index = self.inner.tag_index.lock().unwrap_or_else(PoisonError::into_inner);
        for tag in old.difference(new) {
            if let Some(keys) = index.get_mut(tag.as_str()) {
                keys.remove(key);
                if keys.is_empty() {
                    index.remove(tag.as_str());
                }
            }
        }
        for tag in new.difference(old) {
            index.entry(tag.as_str().into()).or_default().insert(key.clone());
        }
    }

    /// Writes `row` at `key` under its compute lock if `admit` (given the
    /// current row) says so, keeping the tag index.
    fn put(&self, key: RowKey, admit: impl FnOnce(Option<&Arc<Row>>) -> Option<Row>) {
        // By reference: moka copies the key only to insert a new one.
        self.inner.rows.entry_by_ref(&key).and_compute_with(|current| {
            let old = current.map(|c| c.into_value());
            let Some(row) = admit(old.as_ref()) else { return Op::Nop };
            self.reindex(&key, old.as_deref(), Some(&row));
            if old.is_none() {
                self.inner.new_keys.fetch_add(1, AtomicOrdering::Release);
            }
            Op::Put(Arc::new(row))
        });
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

    /// Removes `key` if `remove(row, phase)` says so, under the key lock
    /// (its tag index entries with it), and returns the phase of the
    /// removed row.
    fn remove_if(
        &self,
        key: &RowKey,
        now: i64,
        remove: impl FnOnce(&Row, Phase) -> bool,
    ) -> Option<Phase> {
        let mut removed = None;
        let result = self.inner.rows.entry_by_ref(key).and_compute_with(|current| match current {
            Some(row) => {
                let phase = row.value().times.phase(now);
                if remove(row.value(), phase) {
                    removed = Some(phase);
                    self.reindex(key, Some(row.value()), None);
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
            if self.remove_if(&key, now, |_, phase| remove(phase)).is_some_and(&count) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every key, sorted: the snapshot of the last scan, or a new one if a
    /// key was added since (a key removed since is skipped when read). A
    /// row present for a whole scan is in every snapshot the scan uses, and
    /// each page resumes strictly after its cursor, so it comes once.
    fn sorted_keys(&self) -> SortedKeys {
        let generation = self.inner.new_keys.load(AtomicOrdering::Acquire);
        let mut cached = self.inner.sorted_keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, keys)) = cached.as_ref()
            && *at == generation
        {
            return Arc::clone(keys);
        }
        let mut keys: Vec<Arc<RowKey>> = self.inner.rows.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        let keys = Arc::new(keys);
        *cached = Some((generation, Arc::clone(&keys)));
        keys
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

#[async_trait]
impl CacheStore for MemoryStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, false)
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, true)
    }

    async fn set(&self, ns: &str, key: &str, payload: Bytes, options: SetOptions) -> Result<()> {
        let clock = self.inner.clock.as_ref();
        let times = prepare_write(clock, self.inner.max_payload, ns, key, &payload, &options)?;
        let SetOptions { headers, tags, .. } = options;
        self.put(RowKey::new(ns, key), |_| {
            Some(Row { payload, headers, times, version: self.next_version(), tags })
        });
        Ok(())
    }

    async fn set_if(
        &self,
        ns: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        cachestore_core::raw::refuse_restore(&options)?;
        let clock = self.inner.clock.as_ref();
        let times = prepare_write(clock, self.inner.max_payload, ns, key, &payload, &options)?;
        let mut outcome = WriteOutcome::NotWritten { current: None };
        let SetOptions { headers, tags, .. } = options;
        // Checked and written under the key's compute lock: atomic.
        self.put(RowKey::new(ns, key), |current| {
            let live = current
                .filter(|row| row.times.phase(times.stored_at).is_live())
                .map(|row| row.version);
            if !condition.holds(live) {
                outcome = WriteOutcome::NotWritten { current: live };
                return None;
            }
            let version = self.next_version();
            outcome = WriteOutcome::Written { version };
            Some(Row { payload, headers, times, version, tags })
        });
        Ok(outcome)
    }

    async fn touch(&self, ns: &str, key: &str, options: TouchOptions) -> Result<Option<u64>> {
        check_identity(ns, key)?;
        let times = RowTimes::resolve(self.inner.clock.now(), options.ttl, options.stale_for)?;
        let mut touched = None;
        self.put(RowKey::new(ns, key), |current| {
            let old = current.filter(|old| old.times.phase(times.stored_at).is_live())?;
            let version = self.next_version();
            touched = Some(version);
            let headers = options.headers.unwrap_or_else(|| old.headers.clone());
            let (payload, tags) = (old.payload.clone(), old.tags.clone());
            Some(Row { payload, headers, times, version, tags })
        });
        Ok(touched)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        let now = self.now_ms()?;
        let removed = self.remove_if(&RowKey::new(namespace, key), now, |_, _| true);
        Ok(removed.is_some_and(Phase::is_live))
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        check_tag(tag)?;
        let now = self.now_ms()?;
        // Taking the tag's set first: a row written with the tag from here
        // on starts a new set, kept for the next invalidation.
        let keys = {
            let mut index = self.inner.tag_index.lock().unwrap_or_else(PoisonError::into_inner);
            index.remove(tag).unwrap_or_default()
        };
        // An entry may be left over from a row moka evicted or one
        // rewritten since; only a row that carries the tag goes.
        let live = keys
            .into_iter()
            .map(|key| self.remove_if(&key, now, |row, _| row.tags.contains(tag)))
            .filter(|removed| removed.is_some_and(Phase::is_live))
            .count();
        Ok(live as u64)
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

    async fn scan(&self, ns: Option<&str>, at: Option<&ScanCursor>, limit: usize) -> Result<Page> {
        let Some(range) = ScanRange::new(ns, at)? else {
            return Ok(Page::default());
        };
        let limit = limit.max(1);
        let now = self.now_ms()?;
        let keys = self.sorted_keys();
        let start = match (range.after, range.namespace) {
            (Some((ns, key)), _) => keys.partition_point(|k| (&*k.namespace, &*k.key) <= (ns, key)),
            (None, Some(ns)) => keys.partition_point(|k| &*k.namespace < ns),
            (None, None) => 0,
        };
        let mut items = Vec::with_capacity(limit.min(1_024));
        for k in &keys[start..] {
            if range.namespace.is_some_and(|ns| ns != &*k.namespace) {
                break;
            }
            let Some(row) = self.inner.rows.get(&**k) else { continue };
            if !row.times.phase(now).is_live() {
                continue;
            }
            if items.len() == limit {
                return Ok(Page::from_items(items, true));
            }
            items.push(ScanItem {
                namespace: k.namespace.to_string(),
                key: k.key.to_string(),
                entry: row.entry()?,
            });
        }
        // The scan is over: let go of the keys (they hold removed rows'
        // identities), unless another scan took newer ones meanwhile.
        let mut cached = self.inner.sorted_keys.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|(_, kept)| Arc::ptr_eq(kept, &keys)) {
            *cached = None;
        }
        Ok(Page::from_items(items, false))
    }

    async fn stats(&self) -> Result<Stats> {
        let now = self.now_ms()?;
        let mut tally = Tally::new();
        for (k, row) in self.inner.rows.iter() {
            tally.add(
                &k.namespace,
                row.times.phase(now),
                row.payload.len() as u64,
                row.times.stored_at,
            );
        }
        let mut stats = tally.into_stats(true);
        stats.evicted = self.inner.evicted.load(std::sync::atomic::Ordering::Relaxed);
        Ok(stats)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_exact_stats(true)
            .with_evicts_live_rows(self.inner.bounded)
            .with_conditional_writes(true)
            .with_touch(true)
            .with_tags(true)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}
