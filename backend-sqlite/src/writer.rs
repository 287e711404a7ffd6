//! SQLite's write side for core's [`GroupWriter`](cachestore_core::raw::group::GroupWriter):
//! one connection; a write alone runs in its own `BEGIN IMMEDIATE`
//! transaction, a group runs each write in a savepoint of one transaction
//! (so one failing write does not undo the others) and commits once.

use std::path::{Path, PathBuf};

use cachestore_core::raw::PreparedRow;
use cachestore_core::raw::RowTimes;
use cachestore_core::raw::group::{Answer, Write, WriteEngine};
use cachestore_core::{Bytes, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::map_err;
use crate::row::{checksum, encode_headers};

/// A row ready to write: validated, times resolved, headers encoded.
pub struct NewRow {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) times: RowTimes,
    pub(crate) headers: Vec<u8>,
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
        let reply = apply(&tx, path, op)?;
        tx.commit().map_err(|e| map_err(path, "committing", e))?;
        Ok(reply)
    }

    fn run_group(&mut self, ops: Vec<Op>) -> Vec<Result<Reply>> {
        let path = &self.path;
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
                Ok(mut sp) => match apply(&sp, path, op) {
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

fn apply(conn: &Connection, path: &Path, op: Op) -> Result<Reply> {
    let err = |op: &'static str| move |e| map_err(path, op, e);
    match op {
        Op::Set(rows) => {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO cache_rows (namespace, key, stored_at, expires_at, stale_until, \
                     payload_len, checksum, headers, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (namespace, key) DO UPDATE SET stored_at = excluded.stored_at, \
                     expires_at = excluded.expires_at, stale_until = excluded.stale_until, \
                     payload_len = excluded.payload_len, checksum = excluded.checksum, \
                     headers = excluded.headers, payload = excluded.payload",
                )
                .map_err(err("preparing set"))?;
            for row in rows {
                let (ns, key) = (row.namespace.as_bytes(), row.key.as_bytes());
                let sum = checksum(ns, key, &row.times, &row.headers, &row.payload);
                stmt.execute(params![
                    ns,
                    key,
                    row.times.stored_at,
                    row.times.expires_at,
                    row.times.stale_until,
                    row.payload.len() as i64,
                    i64::from(sum),
                    row.headers,
                    &row.payload[..],
                ])
                .map_err(err("writing a row"))?;
            }
            Ok(Reply::Done)
        }
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
