//! The store and its `CacheStore` implementation: reads on a pool of read
//! connections, writes through the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cachestore_core::raw::CompactJob;
use cachestore_core::raw::builder::FileOptions;
use cachestore_core::raw::group::off_thread;
use cachestore_core::raw::{
    Phase, PreparedRow, RowTimes, ScanRange, SingleWriterStore, WriterParts,
};
use cachestore_core::{Bytes, Entry, Error, Page, Result, ScanItem, Stats, row_bytes};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row as SqlRow, params};

use crate::builder::SqliteStoreBuilder;
use crate::config::{DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_PAYLOAD, Durability};
use crate::error::map_err;
use crate::row::{checksum_tagged, corrupt_row, decode_headers, decode_tags};
use crate::schema;
use crate::writer::{NewRow, SqliteWriter};

/// The columns [`SqliteStore::decode`] reads, in its order, as a literal for `concat!`.
macro_rules! select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT namespace, key, stored_at, expires_at, stale_until, checksum, version, headers, \
             payload, tags FROM cache_rows ",
            $($rest),*
        )
    };
}

pub(crate) const GET_FRESH: &str =
    select!("WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)");

pub(crate) const GET_STALE: &str =
    select!("WHERE namespace = ?1 AND key = ?2 AND (stale_until IS NULL OR stale_until > ?3)");

pub(crate) const SCAN_ALL: &str =
    select!("WHERE (stale_until IS NULL OR stale_until > ?1) ORDER BY namespace, key LIMIT ?2");

pub(crate) const SCAN_ALL_AFTER: &str = select!(
    "WHERE (namespace, key) > (?3, ?4) AND (stale_until IS NULL OR stale_until > ?1) \
     ORDER BY namespace, key LIMIT ?2"
);

pub(crate) const SCAN_NS: &str = select!(
    "WHERE namespace = ?3 AND (stale_until IS NULL OR stale_until > ?1) ORDER BY key LIMIT ?2"
);

pub(crate) const SCAN_NS_AFTER: &str = select!(
    "WHERE namespace = ?3 AND key > ?4 AND (stale_until IS NULL OR stale_until > ?1) \
     ORDER BY key LIMIT ?2"
);

pub(crate) struct Inner {
    pub(crate) parts: WriterParts<SqliteWriter>,
    pub(crate) path: PathBuf,
    pub(crate) location: String,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_idle_readers: usize,
    pub(crate) readers: Mutex<Vec<Connection>>,
    pub(crate) recovered_from: Option<PathBuf>,
}

/// A store in one SQLite file. Cheap to clone: clones share the connections.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use cachestore_core::{Bytes, CacheStore, SetOptions};
/// use cachestore_sqlite::{Durability, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cache.sqlite");
/// let store = SqliteStore::builder(&path).durability(Durability::Full).open()?;
/// let day = SetOptions::for_duration(Duration::from_secs(86_400));
/// store.set("api", "users/1", Bytes::from_static(b"{}"), day).await?;
/// drop(store);
/// // Another process (or a restart) opens the same file.
/// let again = SqliteStore::open(&path)?;
/// assert!(again.get("api", "users/1").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
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
            file: FileOptions::new(path.into(), DEFAULT_MAX_PAYLOAD),
            durability: Durability::Normal,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
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
        let store = self.clone();
        off_thread("sqlite", move || store.check_whole_file()).await?
    }

    fn check_whole_file(&self) -> Result<()> {
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
        self.inner.parts.writer.with_engine(|w| {
            w.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| self.err("checkpointing", e))
        })
    }

    fn err(&self, op: &'static str, e: rusqlite::Error) -> Error {
        map_err(&self.inner.path, op, e)
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

    /// Column `i` of `row` as a borrowed blob: no copy.
    fn blob<'r>(&self, row: &'r SqlRow<'_>, i: usize) -> Result<&'r [u8]> {
        match row.get_ref(i).map_err(|e| self.err("reading a row", e))? {
            ValueRef::Blob(bytes) => Ok(bytes),
            other => Err(Error::Corrupt {
                location: self.inner.location.clone(),
                detail: format!("column {i} holds {}, not a blob", other.data_type()),
                source: None,
            }),
        }
    }

    /// The row's stored identity (borrowed) and its entry, checked against
    /// that identity and its checksum. Only the payload and the headers are
    /// copied out.
    fn entry_of<'r>(&self, row: &'r SqlRow<'_>) -> Result<(&'r [u8], &'r [u8], Entry)> {
        let e = |e| self.err("reading a row", e);
        let (ns, key) = (self.blob(row, 0)?, self.blob(row, 1)?);
        let times = RowTimes {
            stored_at: row.get(2).map_err(e)?,
            expires_at: row.get(3).map_err(e)?,
            stale_until: row.get(4).map_err(e)?,
        };
        let stored_sum: i64 = row.get(5).map_err(e)?;
        let version: i64 = row.get(6).map_err(e)?;
        let (headers, payload) = (self.blob(row, 7)?, self.blob(row, 8)?);
        let tags = match row.get_ref(9).map_err(e)? {
            ValueRef::Null => &[][..],
            _ => self.blob(row, 9)?,
        };
        let bad = |detail: String| corrupt_row(&self.inner.location, ns, key, detail);
        let version = u64::try_from(version).map_err(|_| bad("a negative version".into()))?;
        let sum = checksum_tagged(ns, key, &times, version, headers, tags, payload);
        if i64::from(sum) != stored_sum {
            return Err(bad("checksum mismatch: the row was damaged on disk".into()));
        }
        times.check().map_err(|d| bad(d.into()))?;
        let headers = decode_headers(headers).map_err(|d| bad(format!("headers: {d}")))?;
        let tags = decode_tags(tags).map_err(|d| bad(format!("tags: {d}")))?;
        let entry =
            Entry::from_versioned_parts(Bytes::copy_from_slice(payload), headers, times, version)
                .ok_or_else(|| bad("a time is out of range".into()))?;
        Ok((ns, key, entry.with_tags(tags)))
    }

    /// The row's identity and entry (for scans).
    fn decode(&self, row: &SqlRow<'_>) -> Result<(String, String, Entry)> {
        let (ns, key, entry) = self.entry_of(row)?;
        let text = |bytes: &[u8], what: &str| {
            std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
                corrupt_row(&self.inner.location, ns, key, format!("{what} is not UTF-8"))
            })
        };
        Ok((text(ns, "namespace")?, text(key, "key")?, entry))
    }
}

impl SingleWriterStore for SqliteStore {
    type Row = NewRow;
    type Engine = SqliteWriter;

    fn parts(&self) -> &WriterParts<SqliteWriter> {
        &self.inner.parts
    }

    fn make_row(&self, row: PreparedRow) -> Result<NewRow> {
        if let Some(limit) = self.inner.parts.capabilities.max_bytes {
            let size =
                row_bytes(&row.namespace, &row.key, &row.headers, &row.tags, row.payload.len());
            if size > limit {
                return Err(Error::PayloadTooLarge { size, limit });
            }
        }
        Ok(NewRow::new(row))
    }

    fn read_row(&self, ns: &str, key: &str, now: i64, stale_ok: bool) -> Result<Option<Entry>> {
        let sql = if stale_ok { GET_STALE } else { GET_FRESH };
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err("reading", e))?;
            let mut rows = stmt
                .query(params![ns.as_bytes(), key.as_bytes(), now])
                .map_err(|e| self.err("reading", e))?;
            match rows.next().map_err(|e| self.err("reading", e))? {
                Some(row) => self.entry_of(row).map(|(_, _, entry)| Some(entry)),
                None => Ok(None),
            }
        })
    }

    fn read_rows(&self, ids: &[(&str, &str)], now: i64) -> Result<Vec<Option<Entry>>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(GET_FRESH).map_err(|e| self.err("reading", e))?;
            let mut out = Vec::with_capacity(ids.len());
            for (namespace, key) in ids {
                let mut rows = stmt
                    .query(params![namespace.as_bytes(), key.as_bytes(), now])
                    .map_err(|e| self.err("reading", e))?;
                out.push(match rows.next().map_err(|e| self.err("reading", e))? {
                    Some(row) => Some(self.entry_of(row)?.2),
                    None => None,
                });
            }
            Ok(out)
        })
    }

    fn scan_rows(&self, range: ScanRange<'_>, limit: usize, now: i64) -> Result<Page> {
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        // Row values compare by bytes (BLOB columns), which is the scan order.
        let (sql, ns, key): (&str, &[u8], &[u8]) = match (range.namespace, range.after) {
            (None, None) => (SCAN_ALL, b"", b""),
            (None, Some((ns, key))) => (SCAN_ALL_AFTER, ns.as_bytes(), key.as_bytes()),
            (Some(ns), None) => (SCAN_NS, ns.as_bytes(), b""),
            (Some(ns), Some((_, key))) => (SCAN_NS_AFTER, ns.as_bytes(), key.as_bytes()),
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

    fn count_rows(&self, now: i64) -> Result<Stats> {
        let mut stats = self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT namespace, \
                       sum(expires_at IS NULL OR expires_at > ?1), \
                       sum(CASE WHEN expires_at IS NULL OR expires_at > ?1 THEN payload_len ELSE 0 END), \
                       sum(expires_at <= ?1 AND stale_until > ?1), \
                       sum(CASE WHEN expires_at <= ?1 AND stale_until > ?1 THEN payload_len ELSE 0 END), \
                       sum(stale_until <= ?1), \
                       min(CASE WHEN stale_until IS NULL OR stale_until > ?1 THEN stored_at END), \
                       max(CASE WHEN stale_until IS NULL OR stale_until > ?1 THEN stored_at END) \
                     FROM cache_rows INDEXED BY cache_rows_stats GROUP BY namespace",
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
                let span = |i: usize| -> Result<Option<i64>> {
                    row.get(i).map_err(|e| self.err("computing stats", e))
                };
                let stored = span(6)?.zip(span(7)?);
                let (fresh, stale) = (n(1)?, n(3)?);
                // The live rows' span goes with whichever phase has rows.
                let (fresh_span, stale_span) = if fresh > 0 { (stored, None) } else { (None, stored) };
                stats.record_many(&ns, Phase::Fresh, fresh, n(2)?, fresh_span);
                stats.record_many(&ns, Phase::Stale, stale, n(4)?, stale_span);
                stats.record_many(&ns, Phase::Dead, n(5)?, 0, None);
            }
            if let Some((bytes, evicted)) = crate::bound::counts(conn, &self.inner.path)? {
                (stats.stored_bytes, stats.evicted) = (Some(bytes), evicted);
            }
            Ok(stats)
        })?;
        stats.disk_bytes = Some(disk_bytes(&self.inner.path));
        Ok(stats)
    }

    fn compact_job(&self) -> Result<CompactJob> {
        let (path, busy_timeout) = (self.inner.path.clone(), self.inner.busy_timeout);
        Ok(Box::new(move || compact(&path, busy_timeout)))
    }
}

/// Every file of the store: the database, its log and its index.
fn disk_bytes(path: &Path) -> u64 {
    cachestore_core::raw::files::disk_bytes(path, &["-wal", "-shm", "-journal"])
}

/// `VACUUM` (the file rewritten with only the pages its rows need, behind
/// the write lock, so other writers wait within their busy timeout and
/// readers go on), then a checkpoint that truncates the log. On a
/// connection of its own, so that the writer's group commits are not held.
fn compact(path: &Path, busy_timeout: Duration) -> Result<u64> {
    let before = disk_bytes(path);
    let conn = schema::connect(path, busy_timeout, false)?;
    conn.execute_batch("VACUUM").map_err(|e| map_err(path, "compacting (VACUUM)", e))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| map_err(path, "checkpointing after VACUUM", e))?;
    Ok(before.saturating_sub(disk_bytes(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(store: &SqliteStore) -> usize {
        store.inner.readers.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Read connections in use at once come back to the pool only up to
    /// `max_idle_readers`; the rest are closed.
    #[test]
    fn the_idle_readers_kept_are_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        for cap in [0, 2] {
            let path = dir.path().join(format!("cap{cap}.sqlite"));
            let store = SqliteStore::builder(&path).max_idle_readers(cap).open().expect("open");
            // Three readers at once: each call holds its connection while
            // the next one takes another.
            let depth = store
                .with_reader(|_| store.with_reader(|_| store.with_reader(|_| Ok(3))))
                .expect("nested reads");
            assert_eq!(depth, 3);
            assert_eq!(idle(&store), cap, "max_idle_readers({cap})");
        }
    }
}
