//! The size bound (CONTRACT.md §11) on redb: an index of the rows in
//! eviction order, kept in memory by the writer.
//!
//! A redb file has one process (redb locks it), so what the writer knows of
//! the rows is all there is: the index is built from the rows table at open
//! (after the log was replayed; O(rows), reading each value's fixed part
//! only) and kept by every store and remove of a write transaction. A
//! transaction that fails leaves the index ahead of the file: it is marked
//! stale and built again before the next write. Evictions are written in
//! the write's own transaction and logged as deletes, so a replay after a
//! crash repeats them. The number of rows evicted is kept in the meta table
//! (`evicted_rows`), in the same transactions.
//!
//! Memory: the identity is held three times (the map, and the two orders),
//! plus about 100 bytes a row.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cachestore_core::raw::RowTimes;
use cachestore_core::{Result, SharedClock};
use redb::{ReadableDatabase, ReadableTable};

use crate::error::map_err;
use crate::row;
use crate::schema::ROWS;
use crate::store::Db;

/// A row's place in the index.
#[derive(Clone, Copy, Debug)]
struct Meta {
    bytes: u64,
    times: RowTimes,
}

type Id = (String, String);

/// What `stats` reads of the bound without waiting for the writer.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) bytes: AtomicU64,
    pub(crate) evicted: AtomicU64,
}

/// The bound and the index of the rows it is kept against.
pub(crate) struct Bound {
    pub(crate) max: u64,
    pub(crate) clock: SharedClock,
    pub(crate) counts: Arc<Counts>,
    bytes: u64,
    evicted: u64,
    rows: HashMap<Id, Meta>,
    /// Every row, by `stored_at`.
    by_age: BTreeSet<(i64, Id)>,
    /// Rows that expire, by `expires_at`.
    by_expiry: BTreeSet<(i64, Id)>,
    /// A transaction failed after changing the index: build it again.
    pub(crate) stale: bool,
}

/// A row's bytes (`cachestore_core::row_bytes`) from its stored value: the
/// lengths of its identity, its encoded headers and tags, and its payload.
/// `value_len` is the whole value's length (a value being written comes in
/// pieces: its head, then its payload).
fn meta_of(id: (&str, &str), head: &[u8], value_len: usize) -> Option<Meta> {
    let fixed = row::fixed(head).ok()?;
    let payload = value_len.checked_sub(fixed.headers_at + fixed.headers_len + fixed.tags_len)?;
    let bytes = id.0.len() + id.1.len() + fixed.headers_len + fixed.tags_len + payload;
    Some(Meta { bytes: bytes as u64, times: fixed.times })
}

/// [`meta_of`], or, for a damaged value, its identity and whole value at
/// the front of the age order (its row is judged when it is read).
fn meta_or_whole(id: (&str, &str), head: &[u8], value_len: usize) -> Meta {
    meta_of(id, head, value_len).unwrap_or(Meta {
        bytes: (id.0.len() + id.1.len() + value_len) as u64,
        times: RowTimes { stored_at: 0, expires_at: None, stale_until: None },
    })
}

/// The bytes of a row from its value's head: what the bound weighs it at.
pub(crate) fn row_bytes_of(id: (&str, &str), head: &[u8], value_len: usize) -> Option<u64> {
    meta_of(id, head, value_len).map(|m| m.bytes)
}

impl Bound {
    /// The index of the rows in `db`, and the evictions counted so far.
    pub(crate) fn build(
        db: &Db,
        path: &Path,
        max: u64,
        clock: SharedClock,
        evicted: u64,
    ) -> Result<Bound> {
        let mut bound = Bound {
            max,
            clock,
            counts: Arc::new(Counts::default()),
            bytes: 0,
            evicted,
            rows: HashMap::new(),
            by_age: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            stale: false,
        };
        bound.rebuild(db, path)?;
        Ok(bound)
    }

    /// Builds the index again from the rows table.
    pub(crate) fn rebuild(&mut self, db: &Db, path: &Path) -> Result<()> {
        let err = |e: redb::Error| map_err(path, "indexing rows for the size bound", e);
        (self.bytes, self.rows, self.by_age, self.by_expiry) = Default::default();
        let txn = db.get().begin_read().map_err(|e| err(e.into()))?;
        let rows = txn.open_table(ROWS).map_err(|e| err(e.into()))?;
        for item in rows.iter().map_err(|e| err(e.into()))? {
            let (k, v) = item.map_err(|e| err(e.into()))?;
            let (ns, key) = k.value();
            let value = v.value();
            let meta = meta_or_whole((ns, key), value, value.len());
            self.add((ns.to_owned(), key.to_owned()), meta);
        }
        self.stale = false;
        self.publish();
        Ok(())
    }

    fn add(&mut self, id: Id, meta: Meta) {
        self.bytes += meta.bytes;
        self.by_age.insert((meta.times.stored_at, id.clone()));
        if let Some(at) = meta.times.expires_at {
            self.by_expiry.insert((at, id.clone()));
        }
        self.rows.insert(id, meta);
    }

    /// A row stored (`head` and a payload of `value_len - head.len()`).
    pub(crate) fn stored(&mut self, id: (&str, &str), head: &[u8], value_len: usize) {
        self.removed(id);
        let meta = meta_or_whole(id, head, value_len);
        self.add((id.0.to_owned(), id.1.to_owned()), meta);
    }

    /// A row removed.
    pub(crate) fn removed(&mut self, id: (&str, &str)) {
        let id = (id.0.to_owned(), id.1.to_owned());
        if let Some(meta) = self.rows.remove(&id) {
            self.bytes = self.bytes.saturating_sub(meta.bytes);
            self.by_age.remove(&(meta.times.stored_at, id.clone()));
            if let Some(at) = meta.times.expires_at {
                self.by_expiry.remove(&(at, id));
            }
        }
    }

    /// The rows to evict at `now`, in order, when the rows hold more than
    /// the bound: expired rows (earliest `stale_until` first) down to 15/16
    /// of it, then the least recently stored, as many as it needs.
    pub(crate) fn victims(&self, now: i64) -> Vec<Id> {
        if self.bytes <= self.max {
            return Vec::new();
        }
        let target = self.max - self.max / 16;
        let mut expired: Vec<(i64, i64, &Id)> = self
            .by_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, id)| {
                let m = self.rows.get(id)?;
                Some((m.times.stale_until.unwrap_or(i64::MAX), m.times.stored_at, id))
            })
            .collect();
        expired.sort();
        let mut freed = 0;
        let mut out: Vec<Id> = Vec::new();
        for (_, _, id) in expired {
            if freed >= self.bytes - target {
                break;
            }
            freed += self.rows.get(id).map_or(0, |m| m.bytes);
            out.push(id.clone());
        }
        // Reached only when every expired row is already out.
        for (_, id) in &self.by_age {
            if freed >= self.bytes - self.max {
                break;
            }
            let Some(meta) = self.rows.get(id) else { continue };
            if meta.times.expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            freed += meta.bytes;
            out.push(id.clone());
        }
        out
    }

    /// Counts `n` rows evicted; the total so far.
    pub(crate) fn count_evicted(&mut self, n: u64) -> u64 {
        self.evicted += n;
        self.evicted
    }

    /// Makes the counts visible to `stats`.
    pub(crate) fn publish(&self) {
        self.counts.bytes.store(self.bytes, Ordering::Relaxed);
        self.counts.evicted.store(self.evicted, Ordering::Relaxed);
    }

    /// The evictions counted (for a failed transaction's undo).
    pub(crate) fn set_evicted(&mut self, n: u64) {
        self.evicted = n;
    }

    /// The evictions counted.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }
}
