//! The write side: one redb transaction per group of writes, made durable
//! through the write-ahead log, and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::group::{Answer, Write, WriteEngine};
use cachestore_core::{Bytes, Error, Result};
use redb::{ReadableTable, WriteTransaction};

use crate::config::Durability;
use crate::error::{guard, internal, map_err};
use crate::log::{self, Entry, Log, RowEntry};
use crate::row;
use crate::schema::{self, ROWS};
use crate::store::Db;

/// A row ready to write: its value is `head` (the fixed header and the
/// headers, see [`crate::row`]) then the payload, kept apart so that the
/// payload is copied only where it is stored.
#[derive(Debug)]
pub struct NewRow {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) head: Vec<u8>,
    pub(crate) payload: Bytes,
}

/// The log's view of a write: borrowed, nothing copied. `None` for the
/// writes this store does not do (conditional writes and touch: its
/// capabilities say so, and the store refuses them before they get here).
fn entry(op: &Op) -> Option<Entry<'_>> {
    Some(match op {
        Op::Set(rows) => Entry::Set(
            rows.iter()
                .map(|r| RowEntry {
                    namespace: &r.namespace,
                    key: &r.key,
                    head: &r.head,
                    payload: &r.payload,
                })
                .collect(),
        ),
        Op::Delete { namespace, key, now } => Entry::Delete { namespace, key, now: *now },
        Op::Purge { now } => Entry::Purge { now: *now },
        Op::Clear { namespace, now } => Entry::Clear { namespace: namespace.as_deref(), now: *now },
        Op::SetIf { .. } | Op::Touch(_) => return None,
    })
}

fn unsupported(op: &Op) -> Error {
    let operation = if matches!(op, Op::Touch(_)) { "touch" } else { "set_if" };
    Error::Unsupported { backend: "redb", operation }
}

/// One write.
pub(crate) type Op = Write<NewRow>;

/// A write's answer.
pub(crate) type Reply = Answer;

/// The write side: the database, its write-ahead log and the durability of
/// its commits.
pub struct RedbWriter {
    pub(crate) db: Arc<Db>,
    pub(crate) path: PathBuf,
    pub(crate) durability: Durability,
    /// `None` with [`Durability::Buffered`], which logs nothing.
    pub(crate) log: Option<Log>,
    /// The log's storage, when it is not the file beside the database (the
    /// crash tests); taken by [`RedbWriter::recover`].
    pub(crate) log_io: Option<Box<dyn log::LogIo>>,
    /// A log write (or the commit after one) did not complete: the next
    /// commit is a checkpoint, so that the record can never be replayed.
    pub(crate) needs_checkpoint: bool,
}

impl RedbWriter {
    pub(crate) fn begin(&self) -> Result<WriteTransaction> {
        self.db.begin_write().map_err(|e| map_err(&self.path, "starting a write", e))
    }

    pub(crate) fn commit(&self, txn: WriteTransaction, durability: redb::Durability) -> Result<()> {
        commit(&self.path, txn, durability)
    }

    /// Replays what the log holds past the committed state. Runs at open,
    /// before any write. The replayed writes are committed without a sync:
    /// the log keeps holding them, and writing on after them needs no free
    /// space beyond theirs (a store reopened on a full disk still works).
    /// Returns the epoch and end of a replayed log, whose torn tail (if any)
    /// is cut once the open is accepted.
    pub(crate) fn recover(&mut self) -> Result<Option<(u64, u64)>> {
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
            let max = log::LOG_LIMIT.saturating_sub(end);
            Some(wal.replay(epoch, end, max, |entries| {
                if !entries.is_empty() {
                    let txn = self.begin()?;
                    apply_all(&txn, &self.path, entries)?;
                    Ok(Some(txn))
                } else {
                    Ok(None)
                }
            })?)
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
            Some((txn, replayed_end)) => {
                if let Some(txn) = txn {
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
    pub(crate) fn upgrade(&mut self, from: u64) -> Result<()> {
        let txn = self.begin()?;
        schema::upgrade(&txn, &self.path, from)?;
        self.checkpoint(txn)
    }

    /// Applies `ops` in one transaction and commits it: through the log
    /// (see [`log`]), or as a checkpoint (a durable redb commit starting a
    /// new epoch), or, buffered, without a sync.
    pub(crate) fn commit_ops(&mut self, ops: &[&Op]) -> Result<Vec<Reply>> {
        let path = self.path.clone();
        guard(&path, "writing", || {
            let txn = self.begin()?;
            let entries = ops
                .iter()
                .map(|op| entry(op).ok_or_else(|| unsupported(op)))
                .collect::<Result<Vec<Entry<'_>>>>()?;
            let replies = apply_all(&txn, &self.path, &entries)?;
            let Some(wal) = self.log.as_mut() else {
                commit(&self.path, txn, redb::Durability::None)?;
                return Ok(replies);
            };
            let record = (!self.needs_checkpoint)
                .then(|| log::record(wal.epoch, &entries))
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
    pub(crate) fn commit_one(&mut self, op: &Op) -> Result<Reply> {
        self.commit_ops(&[op])?.pop().ok_or_else(|| internal("write"))
    }

    /// Commits `txn` durably; with the log, as a checkpoint that starts a new
    /// epoch (voiding every record before it).
    pub(crate) fn checkpoint(&mut self, txn: WriteTransaction) -> Result<()> {
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
    pub(crate) fn flush(&mut self) -> Result<()> {
        let path = self.path.clone();
        guard(&path, "flushing", || {
            let txn = self.begin()?;
            self.checkpoint(txn)
        })
    }
}

pub(crate) fn commit(
    path: &Path,
    mut txn: WriteTransaction,
    durability: redb::Durability,
) -> Result<()> {
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
pub(crate) fn apply_all(
    txn: &WriteTransaction,
    path: &Path,
    entries: &[Entry<'_>],
) -> Result<Vec<Reply>> {
    let mut rows = txn.open_table(ROWS).map_err(|e| map_err(path, "opening rows", e))?;
    entries.iter().map(|entry| apply(&mut rows, path, entry)).collect()
}

/// Stores a value given in pieces, copied once, straight into redb's page.
pub(crate) fn put(
    rows: &mut Rows<'_>,
    id: (&str, &str),
    pieces: [&[u8]; 2],
) -> Result<(), redb::StorageError> {
    let mut guard = rows.insert_reserve(id, pieces[0].len() + pieces[1].len())?;
    let (head, payload) = guard.as_mut().split_at_mut(pieces[0].len());
    head.copy_from_slice(pieces[0]);
    payload.copy_from_slice(pieces[1]);
    Ok(())
}

pub(crate) fn apply(rows: &mut Rows<'_>, path: &Path, entry: &Entry<'_>) -> Result<Reply> {
    let s = |op: &'static str| move |e: redb::StorageError| map_err(path, op, e);
    let old_times = |value: &[u8], ns: &str, key: &str| times_of(path, value, ns, key);
    match *entry {
        Entry::Set(ref new_rows) => {
            for r in new_rows {
                put(rows, (r.namespace, r.key), [r.head, r.payload]).map_err(s("writing a row"))?;
            }
            Ok(Reply::Done)
        }
        Entry::Delete { namespace, key, now } => {
            let old = rows
                .remove((namespace, key))
                .map_err(s("deleting a row"))?
                .map(|old| old_times(old.value(), namespace, key))
                .transpose()?;
            Ok(Reply::Deleted(old.is_some_and(|t| t.phase(now).is_live())))
        }
        Entry::Purge { now } => {
            let dead = select(rows, path, None, |t| !t.phase(now).is_live(), &s("purging"))?;
            for (ns, key, _) in &dead {
                rows.remove((ns.as_str(), key.as_str())).map_err(s("purging"))?;
            }
            Ok(Reply::Count(dead.len() as u64))
        }
        Entry::Clear { namespace, now } => {
            let doomed = select(rows, path, namespace, |_| true, &s("clearing"))?;
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
pub(crate) fn times_of(path: &Path, value: &[u8], ns: &str, key: &str) -> Result<RowTimes> {
    row::fixed(value)
        .map(|f| f.times)
        .map_err(|detail| Error::corrupt_row(&path.display().to_string(), ns, key, detail))
}

pub(crate) type Rows<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;

/// The rows of `namespace` (or all) whose times pass `keep`, with their times.
pub(crate) fn select(
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
