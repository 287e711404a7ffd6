//! The one writer connection of a store, with group commit.
//!
//! A write first tries to take the connection: when no other write is
//! running it executes inline, on the caller's thread, in its own
//! `BEGIN IMMEDIATE` transaction, with no thread hop. When the connection is
//! busy, the write goes to the writer thread's queue and the caller awaits
//! its answer. The writer thread takes everything queued, runs each write in
//! a savepoint of one transaction (so one failing write does not undo the
//! others) and commits once: concurrent writers share one commit, and with
//! `Durability::Full` one fsync. A caller is answered only after the
//! transaction holding its write has committed.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use cachestore_core::{Error, Result, RowTimes};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::map_err;
use crate::row::{checksum, encode_headers};

/// The most writes one group commit takes.
const MAX_GROUP: usize = 512;

/// A row ready to write: validated, times resolved, headers encoded.
pub(crate) struct NewRow {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) times: RowTimes,
    pub(crate) headers: Vec<u8>,
    pub(crate) payload: cachestore_core::Bytes,
}

impl NewRow {
    pub(crate) fn new(
        namespace: &str,
        key: &str,
        times: RowTimes,
        headers: &cachestore_core::Headers,
        payload: cachestore_core::Bytes,
    ) -> Self {
        NewRow {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            times,
            headers: encode_headers(headers),
            payload,
        }
    }
}

/// One write.
pub(crate) enum Op {
    /// Insert or overwrite rows, all or none.
    Set(Vec<NewRow>),
    /// Delete one row; answers whether it was live at `now`.
    Delete { namespace: String, key: String, now: i64 },
    /// Delete the dead rows; answers how many.
    Purge { now: i64 },
    /// Delete a namespace's rows, or all; answers how many were live.
    Clear { namespace: Option<String>, now: i64 },
}

/// A write's answer.
pub(crate) enum Reply {
    Done,
    Deleted(bool),
    Count(u64),
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Reply>>,
}

pub(crate) struct Writer {
    conn: Arc<Mutex<Connection>>,
    queue: Sender<Job>,
    path: PathBuf,
}

impl Writer {
    /// Starts the writer thread for `conn`.
    pub(crate) fn start(conn: Connection, path: PathBuf) -> Result<Writer> {
        let conn = Arc::new(Mutex::new(conn));
        let (queue, jobs) = mpsc::channel();
        let thread_conn = Arc::clone(&conn);
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("cachestore-sqlite-writer".into())
            .spawn(move || run_queue(&thread_conn, &thread_path, &jobs))
            .map_err(|e| Error::io("starting the SQLite writer thread", e))?;
        Ok(Writer { conn, queue, path })
    }

    /// Runs `op`, inline if the connection is free, else through the queue.
    pub(crate) async fn write(&self, op: Op) -> Result<Reply> {
        let op = match self.conn.try_lock() {
            Ok(mut conn) => return execute_alone(&mut conn, &self.path, op),
            Err(TryLockError::Poisoned(p)) => {
                return execute_alone(&mut p.into_inner(), &self.path, op);
            }
            Err(TryLockError::WouldBlock) => op,
        };
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { op, reply }).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` on the writer connection, waiting for it (for maintenance).
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    }
}

fn writer_gone() -> Error {
    Error::Backend {
        backend: "sqlite",
        operation: "writing".into(),
        source: "the writer thread stopped (it panicked); reopen the store".into(),
    }
}

fn run_queue(conn: &Mutex<Connection>, path: &std::path::Path, jobs: &Receiver<Job>) {
    // Ends when the store is dropped and with it the queue's sender.
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Take what queued while waiting for the connection too.
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        execute_group(&mut conn, path, group);
    }
}

/// One write in its own transaction.
fn execute_alone(conn: &mut Connection, path: &std::path::Path, op: Op) -> Result<Reply> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err(path, "starting a write transaction", e))?;
    let reply = apply(&tx, path, op)?;
    tx.commit().map_err(|e| map_err(path, "committing", e))?;
    Ok(reply)
}

/// Many writes, each in a savepoint, under one commit.
fn execute_group(conn: &mut Connection, path: &std::path::Path, group: Vec<Job>) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for job in group {
                let _ =
                    job.reply.send(Err(map_err(path, "starting a write transaction", e_clone(&e))));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        let result = match tx.savepoint() {
            Ok(mut sp) => match apply(&sp, path, job.op) {
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
        };
        answers.push((job.reply, result));
    }
    // Commit failed: every write that had succeeded fails with it.
    let commit = tx.commit();
    for (reply, result) in answers {
        let result = match (&commit, result) {
            (Ok(()), result) => result,
            (Err(e), Ok(_)) => Err(map_err(path, "committing", e_clone(e))),
            (Err(_), Err(e)) => Err(e),
        };
        let _ = reply.send(result);
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

fn apply(conn: &Connection, path: &std::path::Path, op: Op) -> Result<Reply> {
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
