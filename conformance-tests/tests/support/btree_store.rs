//! A complete custom backend in one file: a `Mutex<BTreeMap>` store.
//!
//! It is what a backend author writes (step 1) before calling
//! `conformance_tests!` (step 2, in `tests/example_backend.rs`). It leans on
//! the helpers core gives every backend:
//! - [`prepare_write`] validates a write and computes its times;
//! - [`RowTimes::phase`] judges a row at the clock's `now`;
//! - [`check_identity`] / [`check_namespace`] give the typed errors;
//! - [`Stats::record`] counts a row in its phase.
//!
//! Contract v2's versions, conditional writes, touch and tags (CONTRACT.md
//! §7–§9) are each a few lines under the one lock every write takes. (Its
//! `invalidate_tag` walks every row: fine for a reference store, not for a
//! large one, which keeps an index from tag to rows.) So is §11's size
//! bound ([`BTreeStore::bounded`]): after each write, while the rows weigh
//! more than the bound (by [`row_bytes`]), the first row in the eviction
//! order goes. (It sorts every row to find it: a large store keeps an
//! index in that order instead.)

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cachestore_core::raw::{Phase, RowTimes, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Condition, Entry, Error, Headers, MIN_PAYLOAD_LIMIT,
    Page, Result, ScanCursor, ScanItem, SetOptions, SharedClock, Stats, Tags, TouchOptions,
    WriteOutcome, async_trait, check_identity, check_namespace, check_tag, row_bytes,
};

/// One stored row.
#[derive(Clone, Debug)]
pub struct Row {
    pub payload: Bytes,
    pub headers: Headers,
    pub times: RowTimes,
    pub version: u64,
    pub tags: Tags,
}

impl Row {
    pub fn entry(&self) -> Result<Entry> {
        let (payload, headers) = (self.payload.clone(), self.headers.clone());
        let entry = Entry::from_versioned_parts(payload, headers, self.times, self.version)
            .ok_or_else(|| Error::Corrupt {
                location: "btree store".into(),
                detail: "time out of range".into(),
                source: None,
            })?;
        Ok(entry.with_tags(self.tags.clone()))
    }
}

/// Rows keyed by `(namespace, key)`: a tuple, so no delimiter can collide,
/// and `String` orders by bytes, so the map is already in scan order.
pub type Rows = BTreeMap<(String, String), Row>;

/// The store.
#[derive(Debug)]
pub struct BTreeStore {
    pub rows: Mutex<Rows>,
    pub clock: SharedClock,
    /// The last version handed out; taken under the rows' lock.
    pub versions: AtomicU64,
    /// The size bound (CONTRACT.md §11), if any.
    pub max_bytes: Option<u64>,
    /// Rows evicted to keep it.
    pub evicted: AtomicU64,
    /// Where a row stands in the eviction order at `now` (lower goes
    /// first): [`eviction_rank`] (a planted bug swaps in another).
    pub rank: fn(&Row, i64) -> (u8, i64),
    /// What a row weighs against the bound: [`weight`] (idem).
    pub weigh: fn(&str, &str, &Row) -> u64,
}

/// CONTRACT.md §11's order: expired rows (dead, then stale) by earliest
/// `stale_until`, then fresh rows by earliest `stored_at`.
pub fn eviction_rank(row: &Row, now: i64) -> (u8, i64) {
    match row.times.phase(now) {
        Phase::Fresh => (1, row.times.stored_at),
        _ => (0, row.times.stale_until.unwrap_or(i64::MAX)),
    }
}

/// A row's bytes: [`row_bytes`].
pub fn weight(ns: &str, key: &str, row: &Row) -> u64 {
    row_bytes(ns, key, &row.headers, &row.tags, row.payload.len())
}

impl BTreeStore {
    pub fn new(clock: impl Clock) -> Self {
        BTreeStore {
            rows: Mutex::new(BTreeMap::new()),
            clock: Arc::new(clock),
            versions: AtomicU64::new(0),
            max_bytes: None,
            evicted: AtomicU64::new(0),
            rank: eviction_rank,
            weigh: weight,
        }
    }

    /// A store whose rows never weigh more than `max_bytes` after a write.
    pub fn bounded(clock: impl Clock, max_bytes: u64) -> Self {
        BTreeStore { max_bytes: Some(max_bytes), ..BTreeStore::new(clock) }
    }

    /// A row larger than the bound is refused.
    fn check_size(&self, ns: &str, key: &str, row: &Row) -> Result<()> {
        match self.max_bytes {
            Some(limit) if (self.weigh)(ns, key, row) > limit => {
                Err(Error::PayloadTooLarge { size: (self.weigh)(ns, key, row), limit })
            }
            _ => Ok(()),
        }
    }

    /// After a write, under its lock: evicts in order while over the bound.
    pub fn keep_bound(&self, rows: &mut Rows, now: i64) {
        let Some(max) = self.max_bytes else { return };
        let mut total: u64 = rows.iter().map(|((n, k), r)| (self.weigh)(n, k, r)).sum();
        if total <= max {
            return;
        }
        let mut order: Vec<((u8, i64), (String, String))> =
            rows.iter().map(|(id, r)| ((self.rank)(r, now), id.clone())).collect();
        order.sort();
        for (_, id) in order {
            if total <= max {
                break;
            }
            if let Some(row) = rows.remove(&id) {
                total -= (self.weigh)(&id.0, &id.1, &row);
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A new version, greater than every one before.
    pub fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The version of the live row at `id`, if any.
    pub fn live_version(rows: &Rows, id: &(String, String), now: i64) -> Option<u64> {
        rows.get(id).filter(|r| r.times.phase(now).is_live()).map(|r| r.version)
    }

    /// The rows, locked. A panic elsewhere cannot leave a half-written map
    /// (every write is one insert or remove), so a poisoned lock is usable.
    pub fn lock(&self) -> MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now(&self) -> Result<i64> {
        to_unix_millis(self.clock.now())
    }

    fn read(&self, namespace: &str, key: &str, stale_ok: bool) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        let now = self.now()?;
        let rows = self.lock();
        match rows.get(&(namespace.to_owned(), key.to_owned())) {
            Some(row) => match row.times.phase(now) {
                Phase::Fresh => row.entry().map(Some),
                Phase::Stale if stale_ok => row.entry().map(Some),
                _ => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Removes the rows `select` picks; returns how many were live.
    fn remove(&self, select: impl Fn(&str, &Row) -> bool) -> Result<u64> {
        let now = self.now()?;
        let mut live = 0;
        self.lock().retain(|(ns, _), row| {
            let remove = select(ns, row);
            live += u64::from(remove && row.times.phase(now).is_live());
            !remove
        });
        Ok(live)
    }
}

#[async_trait]
impl CacheStore for BTreeStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, false)
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, true)
    }

    async fn set(&self, ns: &str, key: &str, payload: Bytes, options: SetOptions) -> Result<()> {
        let times =
            prepare_write(self.clock.as_ref(), MIN_PAYLOAD_LIMIT, ns, key, &payload, &options)?;
        let (headers, tags) = (options.headers, options.tags);
        let row = Row { payload, headers, times, version: 0, tags };
        self.check_size(ns, key, &row)?;
        let mut rows = self.lock();
        rows.insert((ns.to_owned(), key.to_owned()), Row { version: self.next_version(), ..row });
        self.keep_bound(&mut rows, times.stored_at);
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
        let times =
            prepare_write(self.clock.as_ref(), MIN_PAYLOAD_LIMIT, ns, key, &payload, &options)?;
        let id = (ns.to_owned(), key.to_owned());
        let (headers, tags) = (options.headers, options.tags);
        let row = Row { payload, headers, times, version: 0, tags };
        self.check_size(ns, key, &row)?;
        // Checked and written under one lock: atomic.
        let mut rows = self.lock();
        let current = Self::live_version(&rows, &id, times.stored_at);
        let holds = condition.holds(current);
        if !holds {
            return Ok(WriteOutcome::NotWritten { current });
        }
        let version = self.next_version();
        rows.insert(id, Row { version, ..row });
        self.keep_bound(&mut rows, times.stored_at);
        Ok(WriteOutcome::Written { version })
    }

    async fn touch(&self, ns: &str, key: &str, options: TouchOptions) -> Result<Option<u64>> {
        check_identity(ns, key)?;
        let times = RowTimes::resolve(self.clock.now(), options.ttl, options.stale_for)?;
        let mut rows = self.lock();
        let Some(row) = rows.get_mut(&(ns.to_owned(), key.to_owned())) else { return Ok(None) };
        if !row.times.phase(times.stored_at).is_live() {
            return Ok(None);
        }
        let mut renewed = Row { times, version: self.next_version(), ..row.clone() };
        if let Some(headers) = options.headers {
            renewed.headers = headers;
        }
        self.check_size(ns, key, &renewed)?;
        let version = renewed.version;
        *row = renewed;
        self.keep_bound(&mut rows, times.stored_at);
        Ok(Some(version))
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        let now = self.now()?;
        let removed = self.lock().remove(&(namespace.to_owned(), key.to_owned()));
        Ok(removed.is_some_and(|row| row.times.phase(now).is_live()))
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        check_tag(tag)?;
        self.remove(|_, row| row.tags.contains(tag))
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now()?;
        let mut rows = self.lock();
        let before = rows.len();
        rows.retain(|_, row| row.times.phase(now).is_live());
        Ok((before - rows.len()) as u64)
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        check_namespace(namespace)?;
        self.remove(|ns, _| ns == namespace)
    }

    async fn clear_all(&self) -> Result<u64> {
        self.remove(|_, _| true)
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
        let now = self.now()?;
        let rows = self.lock();
        let start = match after {
            Some(c) => Bound::Excluded((c.namespace.clone(), c.key.clone())),
            None => match namespace {
                Some(ns) => Bound::Included((ns.to_owned(), String::new())),
                None => Bound::Unbounded,
            },
        };
        let mut items = Vec::new();
        for ((ns, key), row) in rows.range((start, Bound::Unbounded)) {
            if namespace.is_some_and(|want| want != ns) {
                if namespace.is_some_and(|want| want.as_bytes() < ns.as_bytes()) {
                    break;
                }
                continue;
            }
            if !row.times.phase(now).is_live() {
                continue;
            }
            if items.len() == limit {
                let next = items.last().map(|i: &ScanItem| ScanCursor {
                    namespace: i.namespace.clone(),
                    key: i.key.clone(),
                });
                return Ok(Page { items, next });
            }
            items.push(ScanItem { namespace: ns.clone(), key: key.clone(), entry: row.entry()? });
        }
        Ok(Page { items, next: None })
    }

    async fn stats(&self) -> Result<Stats> {
        let now = self.now()?;
        let mut stats = Stats::new(true);
        for ((ns, _), row) in self.lock().iter() {
            stats.record(ns, row.times.phase(now), row.payload.len() as u64, row.times.stored_at);
        }
        if self.max_bytes.is_some() {
            let rows = self.lock();
            stats.stored_bytes = Some(rows.iter().map(|((n, k), r)| (self.weigh)(n, k, r)).sum());
            stats.evicted = self.evicted.load(Ordering::Relaxed);
        }
        Ok(stats)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_exact_stats(true)
            .with_conditional_writes(true)
            .with_touch(true)
            .with_tags(true)
            .with_max_bytes(self.max_bytes)
    }

    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }
}
