//! The size bound (CONTRACT.md §11): the bytes of the rows, counted in the
//! file, and eviction inside each write transaction.
//!
//! The first open with a bound adds, in one transaction, what the count
//! needs: three triggers that keep `cache_meta`'s `stored_bytes` equal to
//! the bytes of every row present (by `cachestore_core::row_bytes`, from
//! the stored lengths of the identity, headers and tags blobs and
//! `payload_len`), `evicted_rows`, and two indexes that find the rows in
//! eviction order without a scan: expired rows by `expires_at`, every row
//! by `stored_at`. They stay in the file, so every process keeps the count
//! exact, bounded or not; no schema version changes (a file of schema 3
//! without them is the same format, it only has no count yet).
//!
//! A write whose transaction leaves more than the bound evicts before it
//! commits: expired rows first, earliest `stale_until` first (dead ones
//! come before stale ones, as their `stale_until` has passed), down to
//! 15/16 of the bound; then, if that was not enough, the rest, earliest
//! `stored_at` first, as many as the bound needs (see [`enforce`]).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use cachestore_core::{Error, Result};

use crate::error::map_err;

/// A row's bytes, from its stored columns: the same number as
/// `cachestore_core::row_bytes` (an empty headers blob for no headers, NULL
/// tags for none).
macro_rules! row_bytes_of {
    ($row:literal) => {
        concat!(
            "(length(",
            $row,
            ".namespace) + length(",
            $row,
            ".key) + length(",
            $row,
            ".headers) + ",
            $row,
            ".payload_len + coalesce(length(",
            $row,
            ".tags), 0))"
        )
    };
}

/// What counting adds to a file, once.
const INSTALL: &str = concat!(
    "
CREATE INDEX IF NOT EXISTS cache_rows_expires ON cache_rows (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS cache_rows_age ON cache_rows (stored_at);
CREATE TRIGGER IF NOT EXISTS cache_rows_bytes_inserted AFTER INSERT ON cache_rows
BEGIN
    UPDATE cache_meta SET value = value + ",
    row_bytes_of!("NEW"),
    " WHERE name = 'stored_bytes';
END;
CREATE TRIGGER IF NOT EXISTS cache_rows_bytes_deleted AFTER DELETE ON cache_rows
BEGIN
    UPDATE cache_meta SET value = value - ",
    row_bytes_of!("OLD"),
    " WHERE name = 'stored_bytes';
END;
CREATE TRIGGER IF NOT EXISTS cache_rows_bytes_rewritten
    AFTER UPDATE OF namespace, key, headers, payload_len, tags ON cache_rows
BEGIN
    UPDATE cache_meta SET value = value - ",
    row_bytes_of!("OLD"),
    " + ",
    row_bytes_of!("NEW"),
    " WHERE name = 'stored_bytes';
END;
INSERT OR IGNORE INTO cache_meta (name, value) VALUES ('evicted_rows', 0);
INSERT INTO cache_meta (name, value) SELECT 'stored_bytes', coalesce(sum(",
    row_bytes_of!("cache_rows"),
    "), 0) FROM cache_rows WHERE true
    ON CONFLICT (name) DO NOTHING;
"
);

/// Expired rows, dead before stale, each by earliest `stale_until`.
const EXPIRED_IN_ORDER: &str = concat!(
    "SELECT rowid, ",
    row_bytes_of!("cache_rows"),
    " FROM cache_rows INDEXED BY cache_rows_expires WHERE expires_at <= ?1 \
     ORDER BY stale_until, stored_at"
);

/// Every row, least recently stored first (run once the expired are gone).
const ALL_IN_ORDER: &str = concat!(
    "SELECT rowid, ",
    row_bytes_of!("cache_rows"),
    " FROM cache_rows INDEXED BY cache_rows_age ORDER BY stored_at"
);

/// Adds the count to the file if it has none and evicts down to `max_bytes`
/// (a file opened with a smaller bound than its rows hold), in one
/// transaction. Runs on the writer connection at open.
pub(crate) fn install(conn: &mut Connection, path: &Path, max_bytes: u64, now: i64) -> Result<()> {
    let err = |op: &'static str| move |e| map_err(path, op, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err("starting the size bound's transaction"))?;
    tx.execute_batch(INSTALL).map_err(err("adding the size bound's count"))?;
    enforce(&tx, path, max_bytes, now)?;
    tx.commit().map_err(err("committing the size bound's count"))
}

/// One of the size bound's counts in `cache_meta`, if present.
fn meta_value(conn: &Connection, path: &Path, name: &str) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM cache_meta WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .map_err(|e| map_err(path, "reading the size bound's count", e))
}

/// The bytes of the rows present, and the rows evicted so far; `None` in a
/// file that has never been opened with a bound.
pub(crate) fn counts(conn: &Connection, path: &Path) -> Result<Option<(u64, u64)>> {
    let Some(bytes) = meta_value(conn, path, "stored_bytes")? else { return Ok(None) };
    let evicted = meta_value(conn, path, "evicted_rows")?.unwrap_or(0);
    let bytes = u64::try_from(bytes).map_err(|_| {
        crate::schema::corrupt(path, format!("cache_meta's stored_bytes is negative ({bytes})"))
    })?;
    Ok(Some((bytes, u64::try_from(evicted).unwrap_or(0))))
}

/// Inside a write transaction: when the rows hold more than `max_bytes`,
/// evicts in the order of CONTRACT.md §11 and counts the rows evicted.
/// Expired rows go down to 15/16 of the bound (finding them sorts them all,
/// so one search makes room for many writes); the rest, each the least
/// recently stored, only as many as the bound needs (one index step each),
/// so that a write never evicts a row it has just written unless the rows
/// it wrote are themselves over the bound. `now` judges which rows have
/// expired.
pub(crate) fn enforce(conn: &Connection, path: &Path, max_bytes: u64, now: i64) -> Result<()> {
    let stored = meta_value(conn, path, "stored_bytes")?;
    let Some(stored) = stored.map(|b| u64::try_from(b).unwrap_or(0)) else {
        return Err(Error::Backend {
            backend: "sqlite",
            operation: "keeping the size bound".into(),
            source: "the file's byte count is missing (cache_meta has no stored_bytes)".into(),
        });
    };
    if stored <= max_bytes {
        return Ok(());
    }
    let err = |e| map_err(path, "evicting rows over the size bound", e);
    let target = max_bytes - max_bytes / 16;
    let mut freed = 0u64;
    let mut evicted = 0u64;
    for (sql, goal) in [(EXPIRED_IN_ORDER, stored - target), (ALL_IN_ORDER, stored - max_bytes)] {
        let mut victims = Vec::new();
        {
            let mut stmt = conn.prepare_cached(sql).map_err(err)?;
            let mut rows = if sql == EXPIRED_IN_ORDER { stmt.query([now]) } else { stmt.query([]) }
                .map_err(err)?;
            while freed < goal {
                let Some(row) = rows.next().map_err(err)? else { break };
                let (rowid, bytes): (i64, i64) =
                    (row.get(0).map_err(err)?, row.get(1).map_err(err)?);
                victims.push(rowid);
                freed += u64::try_from(bytes).unwrap_or(0);
            }
        }
        let mut delete =
            conn.prepare_cached("DELETE FROM cache_rows WHERE rowid = ?1").map_err(err)?;
        for rowid in &victims {
            delete.execute([rowid]).map_err(err)?;
        }
        evicted += victims.len() as u64;
    }
    conn.prepare_cached("UPDATE cache_meta SET value = value + ?1 WHERE name = 'evicted_rows'")
        .and_then(|mut s| s.execute(params![i64::try_from(evicted).unwrap_or(i64::MAX)]))
        .map_err(err)?;
    Ok(())
}
