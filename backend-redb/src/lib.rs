//! # cachestore-redb
//!
//! A [`CacheStore`] in one [redb](https://docs.rs/redb) file: a pure-Rust,
//! crash-safe embedded store for one process.
//!
//! - **Durable by default**: a `set` that returned `Ok` survives the process
//!   being killed at any moment after. A write is made durable by a
//!   **write-ahead log** beside the file (`<path>-wal`, see [`WAL_SUFFIX`]):
//!   one checksummed record and one `fdatasync`, then a redb commit without
//!   a sync. That is cheaper than a durable redb commit, which syncs every
//!   page it touched (measured: a single `set` 0.7–0.8× raw redb's durable
//!   commit). Every 128 records (or 4 MiB) a checkpoint commits durably to
//!   redb and the log starts over; an open replays what a crash left in it.
//!   **Group commit** lets concurrent writers share one record and one sync
//!   (8 writers: 5–6.5× raw redb's one durable commit per write).
//!   [`Durability::Buffered`] trades durability for speed.
//! - **Rows** are keyed by redb's `(&str, &str)` tuple key: length-prefixed
//!   elements compared one by one, so no two identities collide and the
//!   table is already in scan order. Every value carries a format version
//!   and a CRC-32 over the value and its identity (see [`row`]): a damaged
//!   row, or one whose stored key was damaged into another, is
//!   [`Error::Corrupt`], never wrong bytes or another key's row.
//! - **Purge and stats scan the rows** (O(rows), reading each value): an
//!   expiry index made purge O(dead rows) but cost 25–30% on every durable
//!   write, and at 100k rows purged no faster than a scan (measured before
//!   the write-ahead log; see the README), so writes won.
//! - **One process**: redb locks the file; a second process gets
//!   [`Error::InUse`] at open, at once, with the path (before the log is
//!   touched).
//! - **The log** is 0600 like the file, at most 4 MiB, and belongs with the
//!   file: copy, move or delete the two together. A file at `<path>-wal`
//!   that is not a cachestore log is [`Error::Incompatible`], untouched. A
//!   torn last record (a write that was never answered) is dropped at open;
//!   damage before an intact record is [`Error::Corrupt`], since replaying
//!   up to it would lose acknowledged writes.
//! - **Bad files**: a SQLite database or a redb file of another program is
//!   [`Error::Incompatible`], random bytes [`Error::Corrupt`]. A refused open
//!   changes no byte of the files it refused: redb marks a file in use and
//!   repairs it after a crash as it opens it, so every write of an open goes
//!   to a stage in memory and reaches the file only once the open has passed
//!   every check (the tables, the format, the log). A panic inside redb (it
//!   can panic on a damaged file), at open, on any call or when the store is
//!   closed, is caught and returned as [`Error::Corrupt`] (or, on close,
//!   swallowed); this needs the default `panic = "unwind"`.
//! - **Creation is atomic**: a new file is made under a temporary name
//!   beside the path, with its tables, synced and then linked into place, so
//!   a crash while a store is created leaves no file or a whole one, and
//!   processes racing to create one file open the same store (one of them;
//!   the others get [`Error::InUse`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| cachestore_core::Error::io("tempdir", e))?;
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_redb::RedbStore;
//!
//! let store = RedbStore::open(dir.path().join("cache.redb"))?;
//! store.set("users", "42", "Ada".into(), SetOptions::for_duration(Duration::from_secs(60))).await?;
//! assert_eq!(&store.get("users", "42").await?.expect("fresh").payload[..], b"Ada");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod log;
pub mod row;
mod schema;
mod storage;

#[cfg(test)]
mod crash_tests;

use std::fs::OpenOptions;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore_core::raw::group::{Answer, GroupWriter, Write, WriteEngine};
use cachestore_core::raw::{Phase, RowTimes, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Entry, Error, MIN_PAYLOAD_LIMIT, Page, Result,
    ScanCursor, ScanItem, SetItem, SetOptions, SharedClock, Stats, SystemClock, async_trait,
    check_identity, check_namespace,
};
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

pub use row::{Bincode, HeaderCodec};
pub use schema::SCHEMA_VERSION;

use crate::log::Log;
use crate::schema::ROWS;
use crate::storage::Storage;
use cachestore_core::raw::files::PathState;

/// The write-ahead log of the store at `path` is `path` + this suffix
/// (`cache.redb-wal`). It belongs with the database file: copy, move or
/// delete the two together.
pub const WAL_SUFFIX: &str = log::SUFFIX;

/// The URL scheme of this backend: `redb://`.
pub const SCHEME: &str = "redb";

/// The default payload limit: 64 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default page cache: 64 MiB (redb's own default is 1 GiB).
pub const DEFAULT_CACHE_SIZE: usize = 64 * 1024 * 1024;

/// How durable a committed write is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Every write is durable before it is answered (a log record and one
    /// `fdatasync`, shared by concurrent writers): a `set` that returned
    /// `Ok` survives a crash or `kill -9`.
    #[default]
    Immediate,
    /// Nothing is synced and nothing logged: faster writes, but a crash or
    /// `kill -9` loses every write since the last durable commit, which
    /// happens only on [`RedbStore::flush`] and when the store is dropped.
    /// The file stays consistent either way. Pages freed between durable
    /// commits are reused only after one, so flush now and then to keep the
    /// file small. This breaks the contract's durability promise on purpose;
    /// use it for caches that are cheap to refill.
    Buffered,
}

/// Builds a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbStoreBuilder {
    path: PathBuf,
    clock: SharedClock,
    durability: Durability,
    recreate_if_corrupt: bool,
    check_integrity: bool,
    max_payload: u64,
    cache_size: usize,
}

impl RedbStoreBuilder {
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

    /// Durability of a committed write. Default: [`Durability::Immediate`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// When the store is damaged (the database or its write-ahead log), move
    /// both aside as `<path>.corrupt-<unix ms>` and
    /// `<path>.corrupt-<unix ms>-wal`, byte for byte, and start an empty
    /// store. The files are moved only while this process holds them in
    /// redb's lock, so a file another process has open is never moved.
    /// Nothing is ever deleted. A foreign file or a newer format is still
    /// refused. Default: off.
    pub fn recreate_if_corrupt(mut self, on: bool) -> Self {
        self.recreate_if_corrupt = on;
        self
    }

    /// Verify every page's checksum and rebuild the allocator state at every
    /// open (O(file size)), not only after an unclean shutdown, when redb
    /// does it by itself. Default: off.
    pub fn check_integrity_on_open(mut self, on: bool) -> Self {
        self.check_integrity = on;
        self
    }

    /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`]; between
    /// 16 MiB and 1 GiB.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }

    /// redb's page cache, in bytes. Default: [`DEFAULT_CACHE_SIZE`].
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Opens the store, creating the file (and its directories) if missing.
    /// Blocks for the open.
    ///
    /// An open that is refused (a foreign or newer file, damage, a damaged
    /// log) changes no byte of the files it refused: redb's repair and every
    /// other write of the open are staged in memory until the whole open has
    /// succeeded (see the crate docs).
    pub fn open(self) -> Result<RedbStore> {
        if !(MIN_PAYLOAD_LIMIT..=1 << 30).contains(&self.max_payload) {
            return Err(Error::Config {
                message: format!(
                    "max_payload is {} bytes; it must be between 16 MiB and 1 GiB",
                    self.max_payload
                ),
            });
        }
        match self.open_once() {
            Err(Error::Corrupt { .. }) if self.recreate_if_corrupt => {
                let stamp = to_unix_millis(self.clock.now())?;
                let moved = move_aside_held(&self.path, stamp)?;
                let mut store = self.open_once()?;
                if let Some(inner) = Arc::get_mut(&mut store.inner) {
                    inner.recovered_from = Some(moved);
                }
                Ok(store)
            }
            other => other,
        }
    }

    fn open_once(&self) -> Result<RedbStore> {
        // Each retry follows a change made by this or another process (a
        // file created, or replaced while it was opened): a few suffice.
        for _ in 0..OPEN_ATTEMPTS {
            if let Some(store) = self.try_open()? {
                return Ok(store);
            }
        }
        Err(Error::InUse {
            path: self.path.clone(),
            source: Some(
                "the file kept being replaced by other processes while it was opened".into(),
            ),
        })
    }

    /// One attempt at opening; `None` when the file at the path changed
    /// meanwhile (so the attempt must be made again).
    fn try_open(&self) -> Result<Option<RedbStore>> {
        let path = &self.path;
        // A foreign file where the log goes: refused before anything is made.
        Log::check(path)?;
        let state = cachestore_core::raw::files::check_path(path)?;
        let missing = state == PathState::New && std::fs::symlink_metadata(path).is_err();
        if missing {
            schema::create(path, false)?;
            return Ok(None);
        }
        if state == PathState::Existing {
            schema::inspect(path)?;
        }
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
        };
        let held = file.try_clone().map_err(|e| Error::io("duplicating a file handle", e))?;
        let storage = Storage::staged(file)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        // redb takes its lock first (a holder elsewhere: `InUse`, at once),
        // then reads and, after a crash, repairs the file: in the stage.
        let db = guard(path, "opening", || {
            let mut builder = Database::builder();
            builder.set_cache_size(self.cache_size);
            builder.set_check_integrity_on_open(self.check_integrity);
            builder.create_with_backend(storage.clone()).map_err(|e| map_err(path, "opening", e))
        })?;
        let db = Arc::new(Db(Some(db)));
        // Locked: is it still the file at the path? (It may have been moved
        // aside or replaced before the lock was taken.)
        if !cachestore_core::raw::files::is_same_file(&held, path)? {
            return Ok(None);
        }
        if storage.file_len() == 0 {
            // An empty file (another program's, or left by an older version):
            // a whole new store replaces it while it is held.
            schema::create(path, true)?;
            return Ok(None);
        }
        self.assemble(db, None, || {
            // Every check passed: the open's writes reach the file.
            storage.persist().map_err(|e| Error::io(format!("writing {}", path.display()), e))
        })
        .map(Some)
    }

    /// The open after redb opened the database: the schema checked, the log
    /// replayed, an old format upgraded, then `accept` (which writes the
    /// staged open out), the torn tail of the log cut and the writer started.
    /// `log_io` is the log's storage when it is not the file beside the
    /// database (the crash tests' simulated disk).
    fn assemble(
        &self,
        db: Arc<Db>,
        log_io: Option<Box<dyn log::LogIo>>,
        accept: impl FnOnce() -> Result<()>,
    ) -> Result<RedbStore> {
        let path = &self.path;
        let mut engine = RedbWriter {
            db: Arc::clone(&db),
            path: path.clone(),
            durability: self.durability,
            log: None,
            log_io,
            needs_checkpoint: false,
        };
        let torn = guard(path, "opening", || {
            let format = schema::prepare(&db, path)?;
            let torn = engine.recover()?;
            if format < SCHEMA_VERSION {
                engine.upgrade()?;
            }
            Ok(torn)
        })?;
        accept()?;
        if let (Some(wal), Some((epoch, end))) = (engine.log.as_mut(), torn) {
            wal.cut_torn_tail(epoch, end)?;
        }
        let location = path.display().to_string();
        // A lone write commits inline; concurrent ones are grouped, sharing
        // one transaction and one log record (one fsync when durable).
        let writer = GroupWriter::start(engine)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                path: path.clone(),
                location,
                clock: self.clock.clone(),
                max_payload: self.max_payload,
                codec: Bincode,
                writer,
                recovered_from: None,
            }),
        })
    }

    /// Opens the store on `storage` for the database and `log_io` for its
    /// log, instead of the files at the path (which only names them in
    /// messages): the crash tests' simulated disk.
    #[cfg(test)]
    pub(crate) fn open_on(
        self,
        storage: impl redb::StorageBackend,
        log_io: Box<dyn log::LogIo>,
    ) -> Result<RedbStore> {
        let path = self.path.clone();
        let db = guard(&path, "opening", || {
            let mut builder = Database::builder();
            builder.set_cache_size(self.cache_size);
            builder.create_with_backend(storage).map_err(|e| map_err(&path, "opening", e))
        })?;
        self.assemble(Arc::new(Db(Some(db))), Some(log_io), || Ok(()))
    }
}

/// How many times an open is attempted while other processes create or
/// replace the file.
const OPEN_ATTEMPTS: usize = 16;

/// Moves a damaged store (the database and its log) aside while holding it
/// in redb's locking protocol, so that a file another process has open is
/// never moved; returns where the database went.
fn move_aside_held(path: &Path, stamp: i64) -> Result<PathBuf> {
    for _ in 0..OPEN_ATTEMPTS {
        // Write access: an exclusive lock needs it.
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            // No database: only its log was there to be judged.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return cachestore_core::raw::files::move_aside(path, stamp, &[log::SUFFIX]);
            }
            Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
        };
        let held = file.try_clone().map_err(|e| Error::io("duplicating a file handle", e))?;
        let hold = storage::Hold::try_take(file)
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?
            .ok_or_else(|| Error::InUse { path: path.into(), source: None })?;
        if !cachestore_core::raw::files::is_same_file(&held, path)? {
            continue;
        }
        let moved = cachestore_core::raw::files::move_aside(path, stamp, &[log::SUFFIX])?;
        drop(hold);
        return Ok(moved);
    }
    Err(Error::InUse {
        path: path.into(),
        source: Some("the file kept being replaced by other processes".into()),
    })
}

/// The database, closed inside a panic guard: redb commits when it closes,
/// and on a damaged file that commit can panic, which must not reach the
/// caller (nor abort the process when the store is dropped while a panic
/// unwinds).
struct Db(Option<Database>);

impl std::ops::Deref for Db {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.0.as_ref().expect("the database is present until the store is dropped")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            // A panic here was redb's, on a damaged file; the file is then
            // judged at the next open.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
        }
    }
}

struct Inner {
    // Dropped after `writer`, whose thread holds the other reference.
    writer: GroupWriter<RedbWriter>,
    db: Arc<Db>,
    path: PathBuf,
    location: String,
    clock: SharedClock,
    max_payload: u64,
    codec: Bincode,
    recovered_from: Option<PathBuf>,
}

/// A store in one redb file. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// Runs `f`, turning a panic inside redb into [`Error::Corrupt`]: redb can
/// panic on a damaged file, and no panic may reach the caller.
fn guard<R>(path: &Path, operation: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(Error::Corrupt {
                location: path.display().to_string(),
                detail: format!("redb panicked while {operation} ({message}); the file is damaged"),
                source: None,
            })
        }
    }
}

/// Maps a redb error to the contract's error, with the file and operation.
pub(crate) fn map_err(path: &Path, operation: &str, e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    let context = || format!("{operation} {}", path.display());
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            Error::InUse { path: path.into(), source: Some(Box::new(e)) }
        }
        redb::Error::Corrupted(detail) => {
            Error::Corrupt { location: path.display().to_string(), detail, source: None }
        }
        redb::Error::UpgradeRequired(version) => Error::Incompatible {
            path: path.into(),
            detail: format!(
                "a redb file in an old format (version {version}) that needs an upgrade"
            ),
        },
        // A read past the end: the file was cut.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::Corrupt {
            location: path.display().to_string(),
            detail: format!("the file is shorter than its contents say ({operation})"),
            source: Some(Box::new(io)),
        },
        redb::Error::Io(io) => Error::Io { context: context(), source: io },
        redb::Error::PreviousIo => Error::Backend {
            backend: "redb",
            operation: context(),
            source: "an earlier I/O error (disk full, say) stopped the database: drop every \
                     handle of this store and open it again"
                .into(),
        },
        other => Error::Backend { backend: "redb", operation: context(), source: Box::new(other) },
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
            path: path.into(),
            clock: Arc::new(SystemClock),
            durability: Durability::Immediate,
            recreate_if_corrupt: false,
            check_integrity: false,
            max_payload: DEFAULT_MAX_PAYLOAD,
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
    pub async fn flush(&self) -> Result<()> {
        self.inner.writer.with_engine(RedbWriter::flush)
    }

    /// Reads every row: each value's checksum and format. `Ok` when sound, else
    /// [`Error::Corrupt`] naming the first problem.
    pub async fn integrity_check(&self) -> Result<()> {
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

    fn now(&self) -> Result<i64> {
        to_unix_millis(self.inner.clock.now())
    }

    /// Decodes a value: times, headers and the payload copied out.
    fn decode(&self, ns: &str, key: &str, value: &[u8]) -> Result<(RowTimes, Entry)> {
        let (times, headers, payload) = row::decode(&self.inner.codec, (ns, key), value)
            .map_err(|d| self.corrupt(ns, key, d))?;
        let entry = Entry::from_parts(Bytes::copy_from_slice(&value[payload]), headers, times)
            .ok_or_else(|| self.corrupt(ns, key, "a time is out of range"))?;
        Ok((times, entry))
    }

    /// Runs `f` in a read transaction, with panics caught.
    fn read_txn<R>(
        &self,
        operation: &str,
        f: impl FnOnce(&redb::ReadTransaction, &Self) -> Result<R>,
    ) -> Result<R> {
        guard(&self.inner.path, operation, || {
            let txn = self.inner.db.begin_read().map_err(|e| self.err(operation, e))?;
            f(&txn, self)
        })
    }

    fn read(&self, namespace: &str, key: &str, stale_ok: bool) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        let now = self.now()?;
        self.read_txn("reading", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("reading", e))?;
            this.get_in(&rows, namespace, key, now, stale_ok)
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

    fn prepare_row(
        &self,
        namespace: String,
        key: String,
        payload: Bytes,
        options: &SetOptions,
    ) -> Result<NewRow> {
        let times = prepare_write(
            self.inner.clock.as_ref(),
            self.inner.max_payload,
            &namespace,
            &key,
            &payload,
            options,
        )?;
        let identity = (namespace.as_str(), key.as_str());
        let value = row::encode(&self.inner.codec, identity, &times, &options.headers, &payload)
            .map_err(|detail| Error::Backend {
                backend: "redb",
                operation: "encoding headers".into(),
                source: detail.into(),
            })?;
        Ok(NewRow { namespace, key, value })
    }
}

fn internal(what: &str) -> Error {
    Error::Backend {
        backend: "redb",
        operation: what.to_owned(),
        source: "the writer gave no answer (a bug in cachestore-redb)".into(),
    }
}

/// A row ready to write.
#[derive(Debug)]
struct NewRow {
    namespace: String,
    key: String,
    value: Vec<u8>,
}

/// One write.
type Op = Write<NewRow>;

/// A write's answer.
type Reply = Answer;

/// The write side: the database, its write-ahead log and the durability of
/// its commits.
struct RedbWriter {
    db: Arc<Db>,
    path: PathBuf,
    durability: Durability,
    /// `None` with [`Durability::Buffered`], which logs nothing.
    log: Option<Log>,
    /// The log's storage, when it is not the file beside the database (the
    /// crash tests); taken by [`RedbWriter::recover`].
    log_io: Option<Box<dyn log::LogIo>>,
    /// A log write (or the commit after one) did not complete: the next
    /// commit is a checkpoint, so that the record can never be replayed.
    needs_checkpoint: bool,
}

impl RedbWriter {
    fn begin(&self) -> Result<WriteTransaction> {
        self.db.begin_write().map_err(|e| map_err(&self.path, "starting a write", e))
    }

    fn commit(&self, txn: WriteTransaction, durability: redb::Durability) -> Result<()> {
        commit(&self.path, txn, durability)
    }

    /// Replays what the log holds past the committed state. Runs at open,
    /// before any write. The replayed writes are committed without a sync:
    /// the log keeps holding them, and writing on after them needs no free
    /// space beyond theirs (a store reopened on a full disk still works).
    /// Returns the epoch and end of a replayed log, whose torn tail (if any)
    /// is cut once the open is accepted.
    fn recover(&mut self) -> Result<Option<(u64, u64)>> {
        let (epoch, end) = schema::log_position(&self.db, &self.path)?;
        let end = end.max(log::START);
        let path = cachestore_core::raw::files::sidecar(&self.path, log::SUFFIX);
        let (mut wal, created) = match self.log_io.take() {
            Some(io) => Log::over(io, path)?,
            None if self.durability == Durability::Buffered && !path.exists() => return Ok(None),
            None => Log::open(&self.path)?,
        };
        // A new log with an epoch on file: the log was deleted, or the file
        // copied without it; what it held is gone.
        let replayed = if epoch != 0 && !created {
            Some(wal.replay(epoch, end, log::LOG_LIMIT.saturating_sub(end))?)
        } else {
            None
        };
        let torn = match replayed {
            None => {
                // Its first epoch must be durable before any record of it is
                // written.
                let txn = self.begin()?;
                (wal.epoch, wal.end) = (log::new_epoch(), log::START);
                schema::set_log_position(&txn, &self.path, wal.epoch, log::START)?;
                self.commit(txn, redb::Durability::Immediate)?;
                None
            }
            Some((ops, replayed_end)) => {
                if !ops.is_empty() {
                    let txn = self.begin()?;
                    apply_all(&txn, &self.path, &ops)?;
                    schema::set_log_position(&txn, &self.path, epoch, replayed_end)?;
                    self.commit(txn, redb::Durability::None)?;
                }
                (wal.epoch, wal.end) = (epoch, replayed_end);
                Some((epoch, replayed_end))
            }
        };
        if self.durability == Durability::Immediate {
            self.log = Some(wal);
        }
        Ok(torn)
    }

    /// Upgrades a file of an earlier format (see [`SCHEMA_VERSION`]) in one
    /// checkpoint, after the log was replayed: the log's records, written in
    /// the old format, are voided by the new epoch in the same commit.
    fn upgrade(&mut self) -> Result<()> {
        let txn = self.begin()?;
        schema::upgrade(&txn, &self.path, &Bincode)?;
        self.checkpoint(txn)
    }

    /// Applies `ops` in one transaction and commits it: through the log
    /// (see [`log`]), or as a checkpoint (a durable redb commit starting a
    /// new epoch), or, buffered, without a sync.
    fn commit_ops(&mut self, ops: &[&Op]) -> Result<Vec<Reply>> {
        let path = self.path.clone();
        guard(&path, "writing", || {
            let txn = self.begin()?;
            let replies = apply_all(&txn, &self.path, ops.iter().copied())?;
            let Some(wal) = self.log.as_mut() else {
                commit(&self.path, txn, redb::Durability::None)?;
                return Ok(replies);
            };
            let record = (!self.needs_checkpoint)
                .then(|| log::record(wal.epoch, ops))
                .flatten()
                .filter(|r| {
                    wal.end + r.len() as u64 <= log::LOG_LIMIT && wal.records < log::RECORD_LIMIT
                });
            match record {
                Some(record) => {
                    let end = wal.end + record.len() as u64;
                    schema::set_log_position(&txn, &self.path, wal.epoch, end)?;
                    // Until the commit below is done, the record may be in
                    // the log without being answered.
                    self.needs_checkpoint = true;
                    wal.write(&record)?;
                    wal.end = end;
                    wal.records += 1;
                    commit(&self.path, txn, redb::Durability::None)?;
                    self.needs_checkpoint = false;
                }
                None => self.checkpoint(txn)?,
            }
            Ok(replies)
        })
    }

    /// One write in its own transaction.
    fn commit_one(&mut self, op: &Op) -> Result<Reply> {
        self.commit_ops(&[op])?.pop().ok_or_else(|| internal("write"))
    }

    /// Commits `txn` durably; with the log, as a checkpoint that starts a new
    /// epoch (voiding every record before it).
    fn checkpoint(&mut self, txn: WriteTransaction) -> Result<()> {
        let Some(wal) = self.log.as_mut() else {
            return commit(&self.path, txn, redb::Durability::Immediate);
        };
        let epoch = log::new_epoch();
        schema::set_log_position(&txn, &self.path, epoch, log::START)?;
        commit(&self.path, txn, redb::Durability::Immediate)?;
        (wal.epoch, wal.end, wal.records) = (epoch, log::START, 0);
        self.needs_checkpoint = false;
        Ok(())
    }

    /// Makes every committed write durable in the file itself: an empty
    /// checkpoint.
    fn flush(&mut self) -> Result<()> {
        let path = self.path.clone();
        guard(&path, "flushing", || {
            let txn = self.begin()?;
            self.checkpoint(txn)
        })
    }
}

fn commit(path: &Path, mut txn: WriteTransaction, durability: redb::Durability) -> Result<()> {
    txn.set_durability(durability).map_err(|e| Error::backend("redb", "setting durability", e))?;
    txn.commit().map_err(|e| map_err(path, "committing", e))
}

impl WriteEngine for RedbWriter {
    type Op = Op;
    type Reply = Reply;
    const NAME: &'static str = "redb";

    fn run_one(&mut self, op: Op) -> Result<Reply> {
        self.commit_one(&op)
    }

    fn run_group(&mut self, ops: Vec<Op>) -> Vec<Result<Reply>> {
        // redb has no cheap per-write savepoint; a write fails only when
        // storage does. So: the whole group in one transaction and one
        // commit; if anything fails, nothing was committed, and each write
        // runs again alone, failing only itself.
        let refs: Vec<&Op> = ops.iter().collect();
        match self.commit_ops(&refs) {
            Ok(replies) => replies.into_iter().map(Ok).collect(),
            Err(_) => ops.iter().map(|op| self.commit_one(op)).collect(),
        }
    }
}

/// Applies `ops` in `txn`, opening the rows table once: in redb every
/// open and close of a table in a write transaction updates the table tree,
/// so a group pays it once, not once per write.
fn apply_all<'o>(
    txn: &WriteTransaction,
    path: &Path,
    ops: impl IntoIterator<Item = &'o Op>,
) -> Result<Vec<Reply>> {
    let mut rows = txn.open_table(ROWS).map_err(|e| map_err(path, "opening rows", e))?;
    ops.into_iter().map(|op| apply(&mut rows, path, op)).collect()
}

fn apply(rows: &mut Rows<'_>, path: &Path, op: &Op) -> Result<Reply> {
    let s = |op: &'static str| move |e: redb::StorageError| map_err(path, op, e);
    let old_times = |value: &[u8], ns: &str, key: &str| times_of(path, value, ns, key);
    match op {
        Op::Set(new_rows) => {
            for r in new_rows {
                rows.insert((r.namespace.as_str(), r.key.as_str()), r.value.as_slice())
                    .map_err(s("writing a row"))?;
            }
            Ok(Reply::Done)
        }
        &Op::Delete { ref namespace, ref key, now } => {
            let old = rows
                .remove((namespace.as_str(), key.as_str()))
                .map_err(s("deleting a row"))?
                .map(|old| old_times(old.value(), namespace, key))
                .transpose()?;
            Ok(Reply::Deleted(old.is_some_and(|t| t.phase(now).is_live())))
        }
        &Op::Purge { now } => {
            let dead = select(rows, path, None, |t| !t.phase(now).is_live(), &s("purging"))?;
            for (ns, key, _) in &dead {
                rows.remove((ns.as_str(), key.as_str())).map_err(s("purging"))?;
            }
            Ok(Reply::Count(dead.len() as u64))
        }
        &Op::Clear { ref namespace, now } => {
            let doomed = select(rows, path, namespace.as_deref(), |_| true, &s("clearing"))?;
            let mut live = 0;
            for (ns, key, times) in &doomed {
                rows.remove((ns.as_str(), key.as_str())).map_err(s("clearing"))?;
                live += u64::from(times.phase(now).is_live());
            }
            Ok(Reply::Count(live))
        }
    }
}

/// The times of a stored value, from its fixed header.
fn times_of(path: &Path, value: &[u8], ns: &str, key: &str) -> Result<RowTimes> {
    row::fixed(value)
        .map(|f| f.times)
        .map_err(|detail| Error::corrupt_row(&path.display().to_string(), ns, key, detail))
}

type Rows<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;

/// The rows of `namespace` (or all) whose times pass `keep`, with their times.
fn select(
    rows: &Rows<'_>,
    path: &Path,
    namespace: Option<&str>,
    keep: impl Fn(&RowTimes) -> bool,
    err: &dyn Fn(redb::StorageError) -> Error,
) -> Result<Vec<(String, String, RowTimes)>> {
    let range = match namespace {
        Some(ns) => rows.range::<(&str, &str)>((ns, "")..).map_err(err)?,
        None => rows.iter().map_err(err)?,
    };
    let mut out = Vec::new();
    for item in range {
        let (k, v) = item.map_err(err)?;
        let (ns, key) = k.value();
        if namespace.is_some_and(|want| want != ns) {
            break;
        }
        let times = times_of(path, v.value(), ns, key)?;
        if keep(&times) {
            out.push((ns.to_owned(), key.to_owned(), times));
        }
    }
    Ok(out)
}

#[async_trait]
impl CacheStore for RedbStore {
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
        check_identity(namespace, key)?;
        let row = self.prepare_row(namespace.to_owned(), key.to_owned(), payload, &options)?;
        self.inner.writer.set(vec![row]).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        self.inner.writer.delete(namespace, key, self.now()?).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.inner.writer.count(Op::Purge { now: self.now()? }).await
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        check_namespace(namespace)?;
        let op = Op::Clear { namespace: Some(namespace.to_owned()), now: self.now()? };
        self.inner.writer.count(op).await
    }

    async fn clear_all(&self) -> Result<u64> {
        self.inner.writer.count(Op::Clear { namespace: None, now: self.now()? }).await
    }

    async fn get_many(&self, ids: &[(&str, &str)]) -> Result<Vec<Option<Entry>>> {
        for (namespace, key) in ids {
            check_identity(namespace, key)?;
        }
        let now = self.now()?;
        self.read_txn("reading", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("reading", e))?;
            ids.iter().map(|(ns, key)| this.get_in(&rows, ns, key, now, false)).collect()
        })
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            check_identity(&item.namespace, &item.key)?;
            rows.push(self.prepare_row(item.namespace, item.key, item.payload, &item.options)?);
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.inner.writer.set(rows).await
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
        let start: Bound<(&str, &str)> = match (namespace, after) {
            (_, Some(c)) if namespace.is_none_or(|ns| c.namespace.as_str() >= ns) => {
                if namespace.is_some_and(|ns| c.namespace.as_str() > ns) {
                    return Ok(Page::default());
                }
                Bound::Excluded((c.namespace.as_str(), c.key.as_str()))
            }
            (Some(ns), _) => Bound::Included((ns, "")),
            (None, _) => Bound::Unbounded,
        };
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

    async fn stats(&self) -> Result<Stats> {
        let now = self.now()?;
        self.read_txn("computing stats", |txn, this| {
            let rows = txn.open_table(ROWS).map_err(|e| this.err("computing stats", e))?;
            let mut stats = Stats::new(true);
            for item in rows.iter().map_err(|e| this.err("computing stats", e))? {
                let (k, v) = item.map_err(|e| this.err("computing stats", e))?;
                let (ns, key) = k.value();
                let fixed = row::fixed(v.value()).map_err(|d| this.corrupt(ns, key, d))?;
                stats.record(ns, fixed.times.phase(now), fixed.payload_len as u64);
            }
            Ok(stats)
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_atomic_batch(true)
            .with_exact_stats(true)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}
