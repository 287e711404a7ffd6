//! # cachestore-sqlite
//!
//! A [`CacheStore`] in one SQLite file: persistent, crash-safe, shared by
//! several processes.
//!
//! - **WAL** journal; `synchronous=NORMAL` by default, so a `set` that
//!   returned `Ok` survives the process being killed at any moment after;
//!   [`Durability::Full`] adds power-loss durability (an fsync per commit).
//! - **Reads** run inline on a pool of read connections: readers never wait
//!   on each other or on the writer, and pay no thread hop.
//! - **Writes** go through one writer connection with **group commit**:
//!   writes that arrive while another commits share its next commit. Every
//!   write transaction is `BEGIN IMMEDIATE`, so contention with other
//!   processes is waited out by the busy timeout, never surfaced at once.
//! - **Files**: the database is created mode 0600 before SQLite opens it (so
//!   SQLite creates `-wal` and `-shm` 0600 too), missing directories 0700. A
//!   symbolic link as the database path is refused.
//! - **Bad files**: another program's database, random bytes, a truncated
//!   file or a newer schema version are a typed error at open and the file is
//!   left untouched. [`SqliteStoreBuilder::recreate_if_corrupt`] moves a
//!   damaged file aside (never deletes it) and starts afresh.
//! - **Checksums**: every row carries a CRC-32, checked on read, so a damaged
//!   page is [`Error::Corrupt`], never wrong bytes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| cachestore_core::Error::io("tempdir", e))?;
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open(dir.path().join("cache.sqlite"))?;
//! store.set("users", "42", "Ada".into(), SetOptions::for_duration(Duration::from_secs(60))).await?;
//! assert_eq!(&store.get("users", "42").await?.expect("fresh").payload[..], b"Ada");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod row;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cachestore_core::raw::{Phase, RowTimes, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Entry, Error, MIN_PAYLOAD_LIMIT, Page, Result,
    ScanCursor, ScanItem, SetItem, SetOptions, SharedClock, Stats, SystemClock, async_trait,
    check_identity, check_namespace,
};
use rusqlite::{Connection, ErrorCode, Row as SqlRow, params};

pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

use crate::row::{checksum, corrupt_row, decode_headers};
use crate::writer::{NewRow, Op, SqliteWriter};
use cachestore_core::raw::group::GroupWriter;

/// The columns [`SqliteStore::decode`] reads, in its order, as a literal for `concat!`.
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT namespace, key, stored_at, expires_at, stale_until, checksum, headers, payload \
             FROM cache_rows ",
            $($rest),*
        )
    };
}

const GET_FRESH: &str =
    select!("WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)");
const GET_STALE: &str =
    select!("WHERE namespace = ?1 AND key = ?2 AND (stale_until IS NULL OR stale_until > ?3)");
const SCAN_ALL: &str =
    select!("WHERE (stale_until IS NULL OR stale_until > ?1) ORDER BY namespace, key LIMIT ?2");
const SCAN_ALL_AFTER: &str = select!(
    "WHERE (namespace, key) > (?3, ?4) AND (stale_until IS NULL OR stale_until > ?1) \
     ORDER BY namespace, key LIMIT ?2"
);
const SCAN_NS: &str = select!(
    "WHERE namespace = ?3 AND (stale_until IS NULL OR stale_until > ?1) ORDER BY key LIMIT ?2"
);
const SCAN_NS_AFTER: &str = select!(
    "WHERE namespace = ?3 AND key > ?4 AND (stale_until IS NULL OR stale_until > ?1) \
     ORDER BY key LIMIT ?2"
);

/// The URL scheme of this backend: `sqlite://`.
pub const SCHEME: &str = "sqlite";

/// The default payload limit: 64 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default busy timeout: how long a write waits for another process's
/// write before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How durable a committed write is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=NORMAL`: a committed write survives the process being
    /// killed; the last commits may be lost on power loss or an OS crash.
    #[default]
    Normal,
    /// `synchronous=FULL`: a committed write also survives power loss. Each
    /// commit costs an fsync; group commit shares it between concurrent
    /// writers.
    Full,
}

/// Builds a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    clock: SharedClock,
    durability: Durability,
    busy_timeout: Duration,
    recreate_if_corrupt: bool,
    check_integrity: bool,
    max_payload: u64,
    max_idle_readers: usize,
}

impl SqliteStoreBuilder {
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

    /// Durability of a committed write. Default: [`Durability::Normal`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a write waits for another process's lock. Default:
    /// [`DEFAULT_BUSY_TIMEOUT`]; at most `i32::MAX` milliseconds (about 24.8
    /// days, SQLite's limit), longer is [`Error::Config`] at open.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// When the file is damaged (not a SQLite file, truncated, failing
    /// SQLite's checks), move it and its `-wal`/`-shm` aside as
    /// `<path>.corrupt-<unix ms>` and start an empty store. The file is never
    /// deleted. Another program's database or a newer schema version is
    /// still refused. Default: off, a damaged file is [`Error::Corrupt`].
    pub fn recreate_if_corrupt(mut self, on: bool) -> Self {
        self.recreate_if_corrupt = on;
        self
    }

    /// Run `PRAGMA quick_check` at open (O(file size)); a failure is
    /// [`Error::Corrupt`], or a recreated store with
    /// [`recreate_if_corrupt`](Self::recreate_if_corrupt). Default: off (SQLite
    /// and the row checksums detect damage as it is read).
    pub fn check_integrity_on_open(mut self, on: bool) -> Self {
        self.check_integrity = on;
        self
    }

    /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`]; at
    /// least 16 MiB and at most 512 MiB (SQLite's blob limit is 1 GB).
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }

    /// How many idle read connections to keep. Default: 8.
    pub fn max_idle_readers(mut self, n: usize) -> Self {
        self.max_idle_readers = n;
        self
    }

    /// Opens the store, creating the file (and its directories) if missing.
    ///
    /// Blocks for the open (file checks, schema, at most a busy timeout).
    pub fn open(self) -> Result<SqliteStore> {
        // SQLite takes the busy timeout as an i32 of milliseconds (~24.8 days).
        if self.busy_timeout.as_millis() > i32::MAX as u128 {
            return Err(Error::Config {
                message: format!(
                    "busy_timeout is {:?}; SQLite takes at most {} ms (about 24.8 days)",
                    self.busy_timeout,
                    i32::MAX
                ),
            });
        }
        if !(MIN_PAYLOAD_LIMIT..=512 * 1024 * 1024).contains(&self.max_payload) {
            return Err(Error::Config {
                message: format!(
                    "max_payload is {} bytes; it must be between 16 MiB and 512 MiB",
                    self.max_payload
                ),
            });
        }
        match self.open_once() {
            Err(Error::Corrupt { .. }) if self.recreate_if_corrupt => {
                let stamp = to_unix_millis(self.clock.now())?;
                let moved =
                    cachestore_core::raw::files::move_aside(&self.path, stamp, &["-wal", "-shm"])?;
                let mut store = self.open_once()?;
                if let Some(inner) = Arc::get_mut(&mut store.inner) {
                    inner.recovered_from = Some(moved);
                }
                Ok(store)
            }
            other => other,
        }
    }

    fn open_once(&self) -> Result<SqliteStore> {
        let path = &self.path;
        if schema::inspect(path)? == schema::FileState::New {
            cachestore_core::raw::files::create_private_file(path)?;
        }
        let mut conn = schema::connect(path, self.busy_timeout, false)?;
        schema::prepare(&mut conn, path, self.durability, self.busy_timeout)?;
        if self.check_integrity {
            quick_check(&conn, path)?;
        }
        let writer = GroupWriter::start(SqliteWriter { conn, path: path.clone() })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.clone(),
                location: path.display().to_string(),
                clock: self.clock.clone(),
                busy_timeout: self.busy_timeout,
                max_payload: self.max_payload,
                max_idle_readers: self.max_idle_readers,
                readers: Mutex::new(Vec::new()),
                writer,
                recovered_from: None,
            }),
        })
    }
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let result: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| map_err(path, "checking integrity", e))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(schema::corrupt(path, format!("integrity check failed: {result}")))
    }
}

struct Inner {
    path: PathBuf,
    location: String,
    clock: SharedClock,
    busy_timeout: Duration,
    max_payload: u64,
    max_idle_readers: usize,
    readers: Mutex<Vec<Connection>>,
    writer: GroupWriter<SqliteWriter>,
    recovered_from: Option<PathBuf>,
}

/// A store in one SQLite file. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default options.
    pub fn open(path: impl Into<PathBuf>) -> Result<SqliteStore> {
        Self::builder(path).open()
    }

    /// A builder for the store at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.into(),
            clock: Arc::new(SystemClock),
            durability: Durability::Normal,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            recreate_if_corrupt: false,
            check_integrity: false,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_idle_readers: 8,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Where a damaged file was moved when this store was opened with
    /// [`SqliteStoreBuilder::recreate_if_corrupt`] and had to recreate it;
    /// `None` when the file opened as it was.
    pub fn recovered_from(&self) -> Option<&Path> {
        self.inner.recovered_from.as_deref()
    }

    /// Runs SQLite's full `PRAGMA integrity_check` and verifies every row's
    /// checksum. `Ok` when the file is sound, else [`Error::Corrupt`] naming
    /// the first problem.
    pub async fn integrity_check(&self) -> Result<()> {
        self.with_reader(|conn| {
            let result: String = conn
                .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
                .map_err(|e| self.err("checking integrity", e))?;
            if result != "ok" {
                return Err(schema::corrupt(
                    &self.inner.path,
                    format!("integrity check failed: {result}"),
                ));
            }
            let mut stmt = conn.prepare(select!()).map_err(|e| self.err("checking rows", e))?;
            let mut rows = stmt.query([]).map_err(|e| self.err("checking rows", e))?;
            while let Some(row) = rows.next().map_err(|e| self.err("checking rows", e))? {
                self.decode(row)?;
            }
            Ok(())
        })
    }

    /// Checkpoints the write-ahead log into the database file and truncates
    /// it, so the file alone holds every row (before copying it, say).
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.writer.with_engine(|w| {
            w.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| self.err("checkpointing", e))
        })
    }

    fn err(&self, op: &'static str, e: rusqlite::Error) -> Error {
        map_err(&self.inner.path, op, e)
    }

    fn now(&self) -> Result<i64> {
        to_unix_millis(self.inner.clock.now())
    }

    /// Runs `f` on a pooled read connection.
    fn with_reader<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let idle = self.inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::connect(&self.inner.path, self.inner.busy_timeout, true)?,
        };
        let result = f(&conn);
        // A connection left inside a transaction by an error is not reused.
        if conn.is_autocommit() {
            let mut readers = self.inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if readers.len() < self.inner.max_idle_readers {
                readers.push(conn);
            }
        }
        result
    }

    /// Decodes a row selected with [`COLUMNS`], verifying its checksum.
    fn decode(&self, row: &SqlRow<'_>) -> Result<(String, String, Entry)> {
        let e = |e| self.err("reading a row", e);
        let ns: Vec<u8> = row.get(0).map_err(e)?;
        let key: Vec<u8> = row.get(1).map_err(e)?;
        let times = RowTimes {
            stored_at: row.get(2).map_err(e)?,
            expires_at: row.get(3).map_err(e)?,
            stale_until: row.get(4).map_err(e)?,
        };
        let stored_sum: i64 = row.get(5).map_err(e)?;
        let headers: Vec<u8> = row.get(6).map_err(e)?;
        let payload: Vec<u8> = row.get(7).map_err(e)?;
        let bad = |detail: String| corrupt_row(&self.inner.location, &ns, &key, detail);
        if i64::from(checksum(&ns, &key, &times, &headers, &payload)) != stored_sum {
            return Err(bad("checksum mismatch: the row was damaged on disk".into()));
        }
        times.check().map_err(|d| bad(d.into()))?;
        let headers = decode_headers(&headers).map_err(|d| bad(format!("headers: {d}")))?;
        let entry = Entry::from_parts(Bytes::from(payload), headers, times)
            .ok_or_else(|| bad("a time is out of range".into()))?;
        let ns = String::from_utf8(ns.clone()).map_err(|_| bad("namespace is not UTF-8".into()))?;
        let key = String::from_utf8(key.clone()).map_err(|_| bad("key is not UTF-8".into()))?;
        Ok((ns, key, entry))
    }

    fn read(&self, namespace: &str, key: &str, stale_ok: bool) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        let now = self.now()?;
        let sql = if stale_ok { GET_STALE } else { GET_FRESH };
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err("reading", e))?;
            let mut rows = stmt
                .query(params![namespace.as_bytes(), key.as_bytes(), now])
                .map_err(|e| self.err("reading", e))?;
            match rows.next().map_err(|e| self.err("reading", e))? {
                Some(row) => self.decode(row).map(|(_, _, entry)| Some(entry)),
                None => Ok(None),
            }
        })
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
        Ok(NewRow::new(namespace, key, times, &options.headers, payload))
    }
}

/// Maps a SQLite error to the contract's error, with the file and operation.
pub(crate) fn map_err(path: &Path, operation: &'static str, e: rusqlite::Error) -> Error {
    let context = || format!("{operation} {}", path.display());
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
            location: path.display().to_string(),
            detail: format!("SQLite reports damage while {operation}"),
            source: Some(Box::new(e)),
        },
        Some(ErrorCode::DiskFull) => Error::Io {
            context: context(),
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, e),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            Error::Io { context: context(), source: std::io::Error::other(e) }
        }
        Some(ErrorCode::SystemIoFailure) => {
            Error::Io { context: context(), source: std::io::Error::other(e) }
        }
        _ => Error::Backend { backend: "sqlite", operation: context(), source: Box::new(e) },
    }
}

#[async_trait]
impl CacheStore for SqliteStore {
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
        // Validate before allocating the owned identity.
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
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(GET_FRESH).map_err(|e| self.err("reading", e))?;
            let mut out = Vec::with_capacity(ids.len());
            for (namespace, key) in ids {
                let mut rows = stmt
                    .query(params![namespace.as_bytes(), key.as_bytes(), now])
                    .map_err(|e| self.err("reading", e))?;
                out.push(match rows.next().map_err(|e| self.err("reading", e))? {
                    Some(row) => Some(self.decode(row)?.2),
                    None => None,
                });
            }
            Ok(out)
        })
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
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
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        // Row values compare by bytes (BLOB columns), which is the scan order.
        let (sql, ns, key): (&str, &[u8], &[u8]) = match (namespace, after) {
            (None, None) => (SCAN_ALL, b"", b""),
            (None, Some(c)) => (SCAN_ALL_AFTER, c.namespace.as_bytes(), c.key.as_bytes()),
            (Some(ns), None) => (SCAN_NS, ns.as_bytes(), b""),
            (Some(ns), Some(c)) => match c.namespace.as_bytes().cmp(ns.as_bytes()) {
                std::cmp::Ordering::Less => (SCAN_NS, ns.as_bytes(), b""),
                std::cmp::Ordering::Equal => (SCAN_NS_AFTER, ns.as_bytes(), c.key.as_bytes()),
                std::cmp::Ordering::Greater => return Ok(Page::default()),
            },
        };
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err("scanning", e))?;
            let e = |e| self.err("scanning", e);
            let mut rows = match (sql == SCAN_ALL, sql == SCAN_NS) {
                (true, _) => stmt.query(params![now, fetch]),
                (_, true) => stmt.query(params![now, fetch, ns]),
                _ => stmt.query(params![now, fetch, ns, key]),
            }
            .map_err(e)?;
            let mut items = Vec::with_capacity(limit.min(1024));
            let mut more = false;
            while let Some(row) = rows.next().map_err(|e| self.err("scanning", e))? {
                if items.len() == limit {
                    more = true;
                    break;
                }
                let (namespace, key, entry) = self.decode(row)?;
                items.push(ScanItem { namespace, key, entry });
            }
            Ok(Page::from_items(items, more))
        })
    }

    async fn stats(&self) -> Result<Stats> {
        let now = self.now()?;
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT namespace, \
                       sum(expires_at IS NULL OR expires_at > ?1), \
                       sum(CASE WHEN expires_at IS NULL OR expires_at > ?1 THEN payload_len ELSE 0 END), \
                       sum(expires_at <= ?1), \
                       sum(CASE WHEN expires_at <= ?1 THEN payload_len ELSE 0 END) \
                     FROM cache_rows INDEXED BY cache_rows_stats \
                     WHERE stale_until IS NULL OR stale_until > ?1 GROUP BY namespace",
                )
                .map_err(|e| self.err("computing stats", e))?;
            let mut rows = stmt.query([now]).map_err(|e| self.err("computing stats", e))?;
            let mut stats = Stats::new(true);
            while let Some(row) = rows.next().map_err(|e| self.err("computing stats", e))? {
                let e = |e| self.err("computing stats", e);
                let ns: Vec<u8> = row.get(0).map_err(e)?;
                let ns = String::from_utf8(ns).map_err(|_| {
                    schema::corrupt(&self.inner.path, "a namespace is not UTF-8")
                })?;
                let n = |i: usize| -> Result<u64> {
                    let v: Option<i64> = row.get(i).map_err(|e| self.err("computing stats", e))?;
                    Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
                };
                stats.record_many(&ns, Phase::Fresh, n(1)?, n(2)?);
                stats.record_many(&ns, Phase::Stale, n(3)?, n(4)?);
            }
            Ok(stats)
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_multi_process(true)
            .with_atomic_batch(true)
            .with_exact_stats(true)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}
