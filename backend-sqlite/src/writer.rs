//! SQLite's write side for core's [`GroupWriter`](cachestore_core::raw::group::GroupWriter):
//! one connection; a write alone runs in its own `BEGIN IMMEDIATE`
//! transaction, a group runs each write in a savepoint of one transaction
//! (so one failing write does not undo the others) and commits once.

use std::path::{Path, PathBuf};

use cachestore_core::raw::PreparedRow;
use cachestore_core::raw::RowTimes;
use cachestore_core::raw::group::{Answer, PreparedTouch, Write, WriteEngine};
use cachestore_core::{Bytes, Error, Result, SharedClock, WriteOutcome};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::map_err;
use crate::row::{checksum_tagged, encode_headers, encode_tags};

/// A row ready to write: validated, times resolved, headers encoded.
pub struct NewRow {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) times: RowTimes,
    pub(crate) headers: Vec<u8>,
    /// The tags' blob; empty for none (stored as NULL).
    pub(crate) tags: Vec<u8>,
    /// The tags, to index.
    pub(crate) tag_list: Vec<String>,
    pub(crate) payload: Bytes,
}

impl NewRow {
    pub(crate) fn new(row: PreparedRow) -> Self {
        let headers = encode_headers(&row.headers);
        NewRow {
            namespace: row.namespace,
            key: row.key,
            times: row.times,
            headers,
            tags: encode_tags(&row.tags),
            tag_list: row.tags.into_iter().collect(),
            payload: row.payload,
        }
    }
}

/// One write.
pub(crate) type Op = Write<NewRow>;

/// A write's answer.
pub(crate) type Reply = Answer;

/// The writer connection.
pub struct SqliteWriter {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// The size bound every write transaction keeps before it commits, and
    /// the clock that says which rows have expired when it evicts.
    pub(crate) bound: Option<(u64, SharedClock)>,
}

impl SqliteWriter {
    /// Evicts over the size bound `bound`, inside the write transaction
    /// `conn` (a borrowed path and bound: the writer's connection is).
    fn keep_bound_in(
        path: &Path,
        bound: &Option<(u64, SharedClock)>,
        conn: &Connection,
    ) -> Result<()> {
        match bound {
            Some((max_bytes, clock)) => {
                let now = cachestore_core::raw::to_unix_millis(clock.now())?;
                crate::bound::enforce(conn, path, *max_bytes, now)
            }
            None => Ok(()),
        }
    }
}

impl WriteEngine for SqliteWriter {
    type Op = Op;
    type Reply = Reply;
    const NAME: &'static str = "sqlite";

    fn run_one(&mut self, op: Op) -> Result<Reply> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| map_err(path, "starting a write transaction", e))?;
        let reply = apply(&tx, path, self.bound.as_ref().map(|b| b.0), op)?;
        SqliteWriter::keep_bound_in(path, &self.bound, &tx)?;
        tx.commit().map_err(|e| map_err(path, "committing", e))?;
        Ok(reply)
    }

    fn run_group(&mut self, ops: Vec<Op>) -> Vec<Result<Reply>> {
        let path = &self.path;
        let bound = &self.bound;
        let mut tx = match self.conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                return ops
                    .iter()
                    .map(|_| Err(map_err(path, "starting a write transaction", e_clone(&e))))
                    .collect();
            }
        };
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match tx.savepoint() {
                Ok(mut sp) => match apply(&sp, path, bound.as_ref().map(|b| b.0), op) {
                    Ok(reply) => sp
                        .commit()
                        .map(|()| reply)
                        .map_err(|e| map_err(path, "releasing a savepoint", e)),
                    Err(e) => {
                        let _ = sp.rollback();
                        Err(e)
                    }
                },
                Err(e) => Err(map_err(path, "starting a savepoint", e)),
            });
        }
        let keep = SqliteWriter::keep_bound_in(path, bound, &tx);
        if let Err(e) = keep {
            // Nothing of the group commits: each write fails with the bound's error.
            drop(tx);
            let text = e.to_string();
            let fail = || Error::Backend {
                backend: "sqlite",
                operation: "keeping the size bound".into(),
                source: text.clone().into(),
            };
            return results.into_iter().map(|r| r.and_then(|_| Err(fail()))).collect();
        }
        match tx.commit() {
            Ok(()) => results,
            // The commit failed: every write that had succeeded fails with it.
            Err(e) => results
                .into_iter()
                .map(|r| r.and_then(|_| Err(map_err(path, "committing", e_clone(&e)))))
                .collect(),
        }
    }
}

/// rusqlite errors are not `Clone`; a group's shared failure is reported to
/// each caller as an equivalent error.
fn e_clone(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

const UPSERT: &str = "INSERT INTO cache_rows (namespace, key, stored_at, expires_at, stale_until, \
     payload_len, version, checksum, headers, payload, tags) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (namespace, key) DO UPDATE SET stored_at = excluded.stored_at, \
     expires_at = excluded.expires_at, stale_until = excluded.stale_until, \
     payload_len = excluded.payload_len, version = excluded.version, \
     checksum = excluded.checksum, headers = excluded.headers, payload = excluded.payload, \
     tags = excluded.tags";

/// Hands out `n` new versions, the first returned: greater than any the
/// store handed out before, in any process (the counter is in the file,
/// updated inside the write transaction, which holds SQLite's write lock).
fn take_versions(conn: &Connection, path: &Path, n: usize) -> Result<u64> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let last: i64 = conn
        .prepare_cached(
            "UPDATE cache_meta SET value = value + ?1 WHERE name = 'last_version' RETURNING value",
        )
        .and_then(|mut s| s.query_row([n], |r| r.get(0)))
        .map_err(|e| map_err(path, "taking a row version", e))?;
    u64::try_from(last - n + 1).map_err(|_| {
        crate::schema::corrupt(path, format!("the version counter is negative ({last})"))
    })
}

fn version_sql(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::Backend {
        backend: "sqlite",
        operation: "writing a row version".into(),
        source: "the version counter passed i64::MAX".into(),
    })
}

fn upsert(conn: &Connection, path: &Path, row: &NewRow, version: u64) -> Result<()> {
    let (ns, key) = (row.namespace.as_bytes(), row.key.as_bytes());
    let sum = checksum_tagged(ns, key, &row.times, version, &row.headers, &row.tags, &row.payload);
    let tags = (!row.tags.is_empty()).then_some(&row.tags[..]);
    conn.prepare_cached(UPSERT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ns,
                key,
                row.times.stored_at,
                row.times.expires_at,
                row.times.stale_until,
                row.payload.len() as i64,
                version_sql(version)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                i64::from(sum),
                row.headers,
                &row.payload[..],
                tags,
            ])
        })
        .map_err(|e| map_err(path, "writing a row", e))?;
    // The rewrite's trigger removed the old row's tag entries.
    for tag in &row.tag_list {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO cache_tags (tag, namespace, key) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![tag.as_bytes(), ns, key]))
        .map_err(|e| map_err(path, "indexing a row's tags", e))?;
    }
    Ok(())
}

/// The version of the live (fresh or stale at `now`) row, if there is one.
fn live_version(
    conn: &Connection,
    path: &Path,
    ns: &[u8],
    key: &[u8],
    now: i64,
) -> Result<Option<u64>> {
    let found: Option<(i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT version, stale_until FROM cache_rows WHERE namespace = ?1 AND key = ?2",
        )
        .and_then(|mut s| s.query_row(params![ns, key], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(|e| map_err(path, "reading a row's version", e))?;
    Ok(found
        .filter(|(_, stale_until)| stale_until.is_none_or(|s| now < s))
        .map(|(v, _)| u64::try_from(v).unwrap_or(0)))
}

/// What a touch reads of the row: `stale_until`, headers, payload, tags.
type TouchedRow = (Option<i64>, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

fn touch(
    conn: &Connection,
    path: &Path,
    max_bytes: Option<u64>,
    t: &PreparedTouch,
) -> Result<Option<u64>> {
    let (ns, key) = (t.namespace.as_bytes(), t.key.as_bytes());
    let now = t.times.stored_at;
    let found: Option<TouchedRow> = conn
        .prepare_cached(
            "SELECT stale_until, headers, payload, tags FROM cache_rows \
             WHERE namespace = ?1 AND key = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![ns, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()
        })
        .map_err(|e| map_err(path, "reading a row to touch", e))?;
    let Some((stale_until, old_headers, payload, tags)) = found else { return Ok(None) };
    let tags = tags.unwrap_or_default();
    if stale_until.is_some_and(|s| now >= s) {
        return Ok(None);
    }
    let headers = t.headers.as_ref().map_or(old_headers, encode_headers);
    if let Some(limit) = max_bytes {
        // The row's bytes as `row_bytes` counts them, with its new headers.
        let size = (ns.len() + key.len() + headers.len() + payload.len() + tags.len()) as u64;
        if size > limit {
            return Err(Error::PayloadTooLarge { size, limit });
        }
    }
    let version = take_versions(conn, path, 1)?;
    let sum = checksum_tagged(ns, key, &t.times, version, &headers, &tags, &payload);
    conn.prepare_cached(
        "UPDATE cache_rows SET stored_at = ?3, expires_at = ?4, stale_until = ?5, version = ?6, \
         checksum = ?7, headers = ?8 WHERE namespace = ?1 AND key = ?2",
    )
    .and_then(|mut s| {
        s.execute(params![
            ns,
            key,
            t.times.stored_at,
            t.times.expires_at,
            t.times.stale_until,
            version_sql(version).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
            i64::from(sum),
            headers,
        ])
    })
    .map_err(|e| map_err(path, "touching a row", e))?;
    Ok(Some(version))
}

/// Runs one write inside the transaction `conn`; `max_bytes` is the size
/// bound a touch's new headers must keep the row within.
fn apply(conn: &Connection, path: &Path, max_bytes: Option<u64>, op: Op) -> Result<Reply> {
    let err = |op: &'static str| move |e| map_err(path, op, e);
    match op {
        Op::Set(rows) => {
            let first = take_versions(conn, path, rows.len())?;
            for (i, row) in rows.iter().enumerate() {
                upsert(conn, path, row, first + i as u64)?;
            }
            Ok(Reply::Done)
        }
        Op::SetIf { row, condition } => {
            let (ns, key) = (row.namespace.as_bytes(), row.key.as_bytes());
            let live = live_version(conn, path, ns, key, row.times.stored_at)?;
            let holds = condition.holds(live);
            if !holds {
                return Ok(Reply::Outcome(WriteOutcome::NotWritten { current: live }));
            }
            let version = take_versions(conn, path, 1)?;
            upsert(conn, path, &row, version)?;
            Ok(Reply::Outcome(WriteOutcome::Written { version }))
        }
        Op::Touch(t) => Ok(Reply::Touched(touch(conn, path, max_bytes, &t)?)),
        Op::Delete { namespace, key, now } => {
            let stale_until: Option<Option<i64>> = conn
                .prepare_cached(
                    "DELETE FROM cache_rows WHERE namespace = ?1 AND key = ?2 RETURNING stale_until",
                )
                .and_then(|mut s| {
                    s.query_row(params![namespace.as_bytes(), key.as_bytes()], |r| r.get(0))
                        .optional()
                })
                .map_err(err("deleting a row"))?;
            Ok(Reply::Deleted(
                matches!(stale_until, Some(None)) || stale_until.flatten().is_some_and(|s| now < s),
            ))
        }
        Op::InvalidateTag { tag, now } => {
            // The triggers remove the deleted rows' entries, this tag's and
            // their others.
            let mut stmt = conn
                .prepare_cached(
                    "DELETE FROM cache_rows WHERE (namespace, key) IN \
                     (SELECT namespace, key FROM cache_tags WHERE tag = ?1) RETURNING stale_until",
                )
                .map_err(err("invalidating a tag"))?;
            let mut rows = stmt.query([tag.as_bytes()]).map_err(err("invalidating a tag"))?;
            let mut live = 0u64;
            while let Some(row) = rows.next().map_err(err("invalidating a tag"))? {
                let stale_until: Option<i64> = row.get(0).map_err(err("invalidating a tag"))?;
                live += u64::from(stale_until.is_none_or(|s| now < s));
            }
            Ok(Reply::Count(live))
        }
        Op::Purge { now } => {
            let n = conn
                .prepare_cached("DELETE FROM cache_rows WHERE stale_until <= ?1")
                .and_then(|mut s| s.execute([now]))
                .map_err(err("purging"))?;
            Ok(Reply::Count(n as u64))
        }
        Op::Clear { namespace, now } => {
            let live: i64 = match &namespace {
                Some(ns) => conn
                    .prepare_cached(
                        "SELECT count(*) FROM cache_rows WHERE namespace = ?1 \
                         AND (stale_until IS NULL OR stale_until > ?2)",
                    )
                    .and_then(|mut s| s.query_row(params![ns.as_bytes(), now], |r| r.get(0))),
                None => conn
                    .prepare_cached(
                        "SELECT count(*) FROM cache_rows WHERE stale_until IS NULL OR stale_until > ?1",
                    )
                    .and_then(|mut s| s.query_row([now], |r| r.get(0))),
            }
            .map_err(err("counting rows to clear"))?;
            match &namespace {
                Some(ns) => conn
                    .prepare_cached("DELETE FROM cache_rows WHERE namespace = ?1")
                    .and_then(|mut s| s.execute([ns.as_bytes()])),
                None => {
                    conn.prepare_cached("DELETE FROM cache_rows").and_then(|mut s| s.execute([]))
                }
            }
            .map_err(err("clearing rows"))?;
            Ok(Reply::Count(u64::try_from(live).unwrap_or(0)))
        }
    }
}
