//! The store and its `CacheStore` implementation: reads run in redb read
//! transactions on the caller's thread; writes go to the writer.

use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore_core::raw::CompactJob;
use cachestore_core::raw::builder::FileOptions;
use cachestore_core::raw::group::off_thread;
use cachestore_core::raw::{
    Phase, PreparedRow, RowTimes, ScanRange, SingleWriterStore, WriterParts,
};
use cachestore_core::{Bytes, Entry, Error, Page, Result, ScanItem, Stats, Tally};
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::builder::RedbStoreBuilder;
use crate::config::{DEFAULT_CACHE_SIZE, DEFAULT_MAX_PAYLOAD, Durability};
use crate::error::{guard, map_err};
use crate::row;
use crate::schema::ROWS;
use crate::writer::{NewRow, RedbWriter};

/// The database, closed inside a panic guard: redb commits when it closes,
/// and on a damaged file that commit can panic, which must not reach the
/// caller (nor abort the process when the store is dropped while a panic
/// unwinds).
///
/// Behind a lock that every read and write takes shared for as long as it
/// begins its transaction (not while it runs: redb's transactions own what
/// they need), so that [`Db::compact`] can have the database alone.
pub(crate) struct Db(std::sync::RwLock<Option<Database>>);

/// The database, shared, while a transaction begins.
pub(crate) struct DbRef<'a>(std::sync::RwLockReadGuard<'a, Option<Database>>);

impl std::ops::Deref for DbRef<'_> {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.0.as_ref().expect("the database is present until the store is dropped")
    }
}

impl Db {
    pub(crate) fn new(db: Database) -> Db {
        Db(std::sync::RwLock::new(Some(db)))
    }

    /// The database, to begin a transaction on.
    pub(crate) fn get(&self) -> DbRef<'_> {
        DbRef(self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// redb's compaction, with the database alone: reads and writes wait.
    /// A read transaction still open (a scan in progress) makes redb refuse
    /// it; it is tried again for up to a second. `Ok(false)`: nothing to
    /// compact.
    pub(crate) fn compact(&self, path: &Path) -> Result<bool> {
        let mut guard = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let db = guard.as_mut().ok_or_else(|| crate::error::internal("the database"))?;
        let mut tries = 0;
        loop {
            match db.compact() {
                Ok(done) => return Ok(done),
                Err(redb::CompactionError::TransactionInProgress) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(map_err(path, "compacting", e)),
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let taken = self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(db) = taken {
            // A panic here was redb's, on a damaged file; the file is then
            // judged at the next open.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
        }
    }
}

pub(crate) struct Inner {
    // The writer (in `parts`) is dropped before `db`: its thread holds the
    // database's other reference.
    pub(crate) parts: WriterParts<RedbWriter>,
    pub(crate) db: Arc<Db>,
    /// The size bound's counts, when the store has one.
    pub(crate) bound_counts: Option<Arc<crate::bound::Counts>>,
    pub(crate) path: PathBuf,
    pub(crate) location: String,
    pub(crate) recovered_from: Option<PathBuf>,
}

/// A store in one redb file. Cheap to clone: clones share the database.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cachestore_core::{Bytes, CacheStore, SetOptions};
/// use cachestore_redb::RedbStore;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cache.redb");
/// let store = RedbStore::open(&path)?;
/// store.set("api", "users/1", Bytes::from_static(b"{}"), SetOptions::new()).await?;
/// drop(store); // a `set` that returned Ok survives even `kill -9`
/// let again = RedbStore::open(&path)?;
/// assert!(again.get("api", "users/1").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedbStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path` with the default options.
    pub fn open(path: impl Into<PathBuf>) -> Result<RedbStore> {
        Self::builder(path).open()
    }

    /// A builder for the store at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> RedbStoreBuilder {
        RedbStoreBuilder {
            file: FileOptions::new(path.into(), DEFAULT_MAX_PAYLOAD),
            durability: Durability::Immediate,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Where the damaged database was moved (its log beside it, with the
    /// `-wal` suffix) when [`RedbStoreBuilder::recreate_if_corrupt`] had to
    /// recreate the store; `None` when the files opened as they were.
    pub fn recovered_from(&self) -> Option<&Path> {
        self.inner.recovered_from.as_deref()
    }

    /// Commits everything durably to the redb file itself (a checkpoint): with
    /// [`Durability::Immediate`] the writes were durable already (in the
    /// log), and the log starts over; with [`Durability::Buffered`] this is
    /// what makes them durable.
    ///
    /// The durable commit runs on a thread of its own, not on the runtime
    /// thread that awaits it.
    pub async fn flush(&self) -> Result<()> {
        let store = self.clone();
        off_thread("redb", move || store.inner.parts.writer.with_engine(RedbWriter::flush)).await?
    }

    /// Reads every row: each value's checksum and format. `Ok` when sound, else
    /// [`Error::Corrupt`] naming the first problem.
    pub async fn integrity_check(&self) -> Result<()> {
        let store = self.clone();
        off_thread("redb", move || store.check_whole_file()).await?
    }

    fn check_whole_file(&self) -> Result<()> {
        self.read_txn("checking integrity", |txn, this| {
            let e = |e: redb::StorageError| map_err(&this.inner.path, "checking integrity", e);
            let rows = txn.open_table(ROWS).map_err(|e| this.err("checking integrity", e))?;
            for item in rows.iter().map_err(e)? {
                let (k, v) = item.map_err(e)?;
                let (ns, key) = k.value();
                this.decode(ns, key, v.value())?;
            }
            Ok(())
        })
    }

    fn err(&self, operation: &str, e: impl Into<redb::Error>) -> Error {
        map_err(&self.inner.path, operation, e)
    }

    fn corrupt(&self, ns: &str, key: &str, detail: impl Into<String>) -> Error {
        Error::corrupt_row(&self.inner.location, ns, key, detail)
    }

    /// Decodes a value: times, headers and the payload copied out.
    fn decode(&self, ns: &str, key: &str, value: &[u8]) -> Result<(RowTimes, Entry)> {
        let d = row::decode((ns, key), value).map_err(|d| self.corrupt(ns, key, d))?;
        let payload = Bytes::copy_from_slice(&value[d.payload]);
        let entry = Entry::from_versioned_parts(payload, d.headers, d.times, d.version)
            .ok_or_else(|| self.corrupt(ns, key, "a time is out of range"))?;
        Ok((d.times, entry.with_tags(d.tags)))
    }

    /// Runs `f` in a read transaction, with panics caught.
    fn read_txn<R>(
        &self,
        operation: &str,
        f: impl FnOnce(&redb::ReadTransaction, &Self) -> Result<R>,
    ) -> Result<R> {
        guard(&self.inner.path, operation, || {
            let txn = self.inner.db.get().begin_read().map_err(|e| self.err(operation, e))?;
            f(&txn, self)
        })
    }

    fn get_in(
        &self,
        rows: &redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
        namespace: &str,
        key: &str,
        now: i64,
        stale_ok: bool,
    ) -> Result<Option<Entry>> {
        let Some(value) = rows.get((namespace, key)).map_err(|e| self.err("reading", e))? else {
            return Ok(None);
        };
        let value = value.value();
        // Judge the phase from the fixed header before copying the payload.
        let fixed = row::fixed(value).map_err(|d| self.corrupt(namespace, key, d))?;
        match fixed.times.phase(now) {
            Phase::Fresh => {}
            Phase::Stale if stale_ok => {}
            _ => return Ok(None),
        }
        self.decode(namespace, key, value).map(|(_, entry)| Some(entry))
    }
}

impl SingleWriterStore for RedbStore {
    type Row = NewRow;
    type Engine = RedbWriter;

    fn parts(&self) -> &WriterParts<RedbWriter> {
        &self.inner.parts
    }

    fn make_row(&self, new: PreparedRow) -> Result<NewRow> {
        if let Some(limit) = self.inner.parts.capabilities.max_bytes {
            let size = cachestore_core::row_bytes(
                &new.namespace,
                &new.key,
                &new.headers,
                &new.tags,
                new.payload.len(),
            );
            if size > limit {
                return Err(Error::PayloadTooLarge { size, limit });
            }
        }
        let head =
            row::encode(&new.times, &new.headers, &new.tags, &new.payload).map_err(|detail| {
                Error::Backend {
                    backend: "redb",
                    operation: "encoding headers".into(),
                    source: detail.into(),
                }
            })?;
        Ok(NewRow { namespace: new.namespace, key: new.key, head, payload: new.payload })
    }

    fn read_row(&self, ns: &str, key: &str, now: i64, stale_ok: bool) -> Result<Option<Entry>> {
        self.read_txn("reading", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("reading", e))?;
            this.get_in(&rows, ns, key, now, stale_ok)
        })
    }

    fn read_rows(&self, ids: &[(&str, &str)], now: i64) -> Result<Vec<Option<Entry>>> {
        self.read_txn("reading", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("reading", e))?;
            ids.iter().map(|(ns, key)| this.get_in(&rows, ns, key, now, false)).collect()
        })
    }

    fn scan_rows(&self, range: ScanRange<'_>, limit: usize, now: i64) -> Result<Page> {
        let start: Bound<(&str, &str)> = match (range.namespace, range.after) {
            (_, Some(after)) => Bound::Excluded(after),
            (Some(ns), None) => Bound::Included((ns, "")),
            (None, None) => Bound::Unbounded,
        };
        let namespace = range.namespace;
        self.read_txn("scanning", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("scanning", e))?;
            let mut items = Vec::with_capacity(limit.min(1024));
            let mut more = false;
            for item in rows
                .range::<(&str, &str)>((start, Bound::Unbounded))
                .map_err(|e| this.err("scanning", e))?
            {
                let (k, v) = item.map_err(|e| this.err("scanning", e))?;
                let (ns, key) = k.value();
                if namespace.is_some_and(|want| want != ns) {
                    break;
                }
                let fixed = row::fixed(v.value()).map_err(|d| this.corrupt(ns, key, d))?;
                if !fixed.times.phase(now).is_live() {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                let entry = this.decode(ns, key, v.value())?.1;
                items.push(ScanItem { namespace: ns.to_owned(), key: key.to_owned(), entry });
            }
            Ok(Page::from_items(items, more))
        })
    }

    fn count_rows(&self, now: i64) -> Result<Stats> {
        self.read_txn("computing stats", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("computing stats", e))?;
            let mut tally = Tally::new();
            for item in rows.iter().map_err(|e| this.err("computing stats", e))? {
                let (k, v) = item.map_err(|e| this.err("computing stats", e))?;
                let (ns, key) = k.value();
                let fixed = row::fixed(v.value()).map_err(|d| this.corrupt(ns, key, d))?;
                let (times, payload) = (fixed.times, fixed.payload_len as u64);
                tally.add(ns, times.phase(now), payload, times.stored_at);
            }
            Ok(tally.into_stats(true))
        })
        .map(|mut stats| {
            stats.disk_bytes = Some(disk_bytes(self.path()));
            if let Some(counts) = &self.inner.bound_counts {
                use std::sync::atomic::Ordering::Relaxed;
                stats.stored_bytes = Some(counts.bytes.load(Relaxed));
                stats.evicted = counts.evicted.load(Relaxed);
            }
            stats
        })
    }

    fn compact_job(&self) -> Result<CompactJob> {
        let store = self.clone();
        Ok(Box::new(move || {
            let before = disk_bytes(store.path());
            store.inner.parts.writer.with_engine(RedbWriter::compact)?;
            Ok(before.saturating_sub(disk_bytes(store.path())))
        }))
    }
}

/// The database file and its log.
fn disk_bytes(path: &Path) -> u64 {
    cachestore_core::raw::files::disk_bytes(path, &[crate::log::SUFFIX])
}
