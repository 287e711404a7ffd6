//! The write side: one redb transaction per group of writes, made durable
//! through the write-ahead log, and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::group::{Answer, Write, WriteEngine};
use cachestore_core::{Bytes, Error, Result, Tags, WriteOutcome};
use redb::{ReadableTable, WriteTransaction};

use crate::bound::Bound;
use crate::config::Durability;
use crate::error::{guard, internal, map_err};
use crate::log::{self, Entry, Log, RowEntry};
use crate::row;
use crate::schema::{self, ROWS, TAGS};
use crate::store::Db;

/// A row ready to write: its value is `head` (the fixed header and the
/// headers, see [`crate::row`]; its version stamped when the write is
/// applied) then the payload, kept apart so that the payload is copied only
/// where it is stored.
#[derive(Debug)]
pub struct NewRow {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) head: row::Head,
    pub(crate) payload: Bytes,
}

/// A row as a write resolved it: stamped, ready to store and to log.
struct Stamped<'a> {
    namespace: &'a str,
    key: &'a str,
    head: Vec<u8>,
    payload: Bytes,
}

/// A write as applied: the rows it wrote, or the write itself (a delete, a
/// purge, a clear), or the rows a tag's invalidation deleted (logged as
/// deletes), or nothing (a condition that did not hold, a touch of no live
/// row).
enum Resolved<'a> {
    Rows(Vec<Stamped<'a>>),
    Other(&'a Op),
    Deleted(Vec<(String, String)>, i64),
    Nothing,
}

impl Resolved<'_> {
    /// The log's view of it.
    fn entries(&self) -> Vec<Entry<'_>> {
        match self {
            Resolved::Rows(rows) => vec![Entry::Set(
                rows.iter()
                    .map(|r| RowEntry {
                        namespace: r.namespace,
                        key: r.key,
                        head: &r.head,
                        payload: &r.payload,
                    })
                    .collect(),
            )],
            Resolved::Other(op) => entry(op).into_iter().collect(),
            Resolved::Deleted(ids, now) => ids
                .iter()
                .map(|(namespace, key)| Entry::Delete { namespace, key, now: *now })
                .collect(),
            Resolved::Nothing => Vec::new(),
        }
    }
}

/// The tables a write changes: the rows, and the tag index, opened only
/// when a tagged row is written or removed (in a write transaction every
/// open of a table updates the table tree: untagged writes do not pay it).
pub(crate) struct Tables<'t> {
    txn: &'t WriteTransaction,
    path: &'t Path,
    pub(crate) rows: Rows<'t>,
    tags: Option<TagIndex<'t>>,
    /// The size bound's index, kept by every store and remove.
    bound: Option<&'t mut Bound>,
}

type TagIndex<'t> = redb::Table<'t, (&'static str, &'static str, &'static str), ()>;

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction, path: &'t Path) -> Result<Tables<'t>> {
        let rows = txn.open_table(ROWS).map_err(|e| map_err(path, "opening rows", e))?;
        Ok(Tables { txn, path, rows, tags: None, bound: None })
    }

    fn tags(&mut self) -> Result<&mut TagIndex<'t>> {
        if self.tags.is_none() {
            let table =
                self.txn.open_table(TAGS).map_err(|e| map_err(self.path, "opening tags", e))?;
            self.tags = Some(table);
        }
        self.tags.as_mut().ok_or_else(|| internal("the tag index"))
    }

    /// Moves `id`'s index entries from the tags `old` to `new`.
    fn reindex(&mut self, id: (&str, &str), old: &Tags, new: &Tags) -> Result<()> {
        if old.is_empty() && new.is_empty() {
            return Ok(());
        }
        let path = self.path;
        let e = |e: redb::StorageError| map_err(path, "indexing tags", e);
        let index = self.tags()?;
        for tag in old.difference(new) {
            index.remove((tag.as_str(), id.0, id.1)).map_err(e)?;
        }
        for tag in new.difference(old) {
            index.insert((tag.as_str(), id.0, id.1), ()).map_err(e)?;
        }
        Ok(())
    }

    /// Stores a row (a value given in pieces: head, payload) and keeps the
    /// tag index: the old row's tags, if it had any, are read from its
    /// fixed part first.
    pub(crate) fn store(&mut self, id: (&str, &str), pieces: [&[u8]; 2]) -> Result<()> {
        let path = self.path;
        let old = match self.rows.get(id).map_err(|e| map_err(path, "reading a row", e))? {
            Some(v) => row::indexed_tags(v.value()),
            None => Tags::new(),
        };
        put(&mut self.rows, id, pieces).map_err(|e| map_err(path, "writing a row", e))?;
        if let Some(bound) = self.bound.as_deref_mut() {
            bound.stored(id, pieces[0], pieces[0].len() + pieces[1].len());
        }
        self.reindex(id, &old, &row::indexed_tags(pieces[0]))
    }

    /// Removes a row and its index entries; its times, if it was there.
    pub(crate) fn remove(&mut self, id: (&str, &str), what: &str) -> Result<Option<RowTimes>> {
        let path = self.path;
        let (times, tags) = {
            let Some(old) = self.rows.remove(id).map_err(|e| map_err(path, what, e))? else {
                return Ok(None);
            };
            let value = old.value();
            (times_of(path, value, id.0, id.1)?, row::indexed_tags(value))
        };
        if let Some(bound) = self.bound.as_deref_mut() {
            bound.removed(id);
        }
        self.reindex(id, &tags, &Tags::new())?;
        Ok(Some(times))
    }

    /// Deletes every row carrying `tag`; the deleted identities and how
    /// many were live at `now`. Each index entry is checked against its
    /// row (an entry left by a damaged row is dropped, its row kept).
    fn invalidate(&mut self, tag: &str, now: i64) -> Result<(Vec<(String, String)>, u64)> {
        let path = self.path;
        let e = |e: redb::StorageError| map_err(path, "invalidating a tag", e);
        let mut ids = Vec::new();
        for item in self.tags()?.range::<(&str, &str, &str)>((tag, "", "")..).map_err(e)? {
            let (k, _) = item.map_err(e)?;
            let (t, ns, key) = k.value();
            if t != tag {
                break;
            }
            ids.push((ns.to_owned(), key.to_owned()));
        }
        let (mut deleted, mut live) = (Vec::with_capacity(ids.len()), 0);
        for (ns, key) in ids {
            let id = (ns.as_str(), key.as_str());
            let carries = match self.rows.get(id).map_err(e)? {
                Some(v) => row::indexed_tags(v.value()).contains(tag),
                None => false,
            };
            if carries {
                let times = self.remove(id, "invalidating a tag")?;
                live += u64::from(times.is_some_and(|t| t.phase(now).is_live()));
                deleted.push((ns, key));
            } else {
                self.tags()?.remove((tag, id.0, id.1)).map_err(e)?;
            }
        }
        Ok((deleted, live))
    }
}

/// The log's view of a delete, a purge or a clear: borrowed. Writes of
/// rows are logged as [`Resolved::Rows`], stamped.
fn entry(op: &Op) -> Option<Entry<'_>> {
    Some(match op {
        Op::Delete { namespace, key, now } => Entry::Delete { namespace, key, now: *now },
        Op::Purge { now } => Entry::Purge { now: *now },
        Op::Clear { namespace, now } => Entry::Clear { namespace: namespace.as_deref(), now: *now },
        Op::Set(_) | Op::SetIf { .. } | Op::Touch(_) | Op::InvalidateTag { .. } => return None,
    })
}

/// The version of the live row at `id` at `now`, if any.
fn live_version(rows: &Rows<'_>, path: &Path, id: (&str, &str), now: i64) -> Result<Option<u64>> {
    let Some(value) = rows.get(id).map_err(|e| map_err(path, "reading a row", e))? else {
        return Ok(None);
    };
    let fixed = row::fixed(value.value())
        .map_err(|d| Error::corrupt_row(&path.display().to_string(), id.0, id.1, d))?;
    Ok(fixed.times.phase(now).is_live().then_some(fixed.version))
}

/// Applies one write in `rows`, stamping the versions of the rows it
/// writes from `next` (the last version handed out), and says what it did.
fn resolve<'a>(
    tables: &mut Tables<'_>,
    path: &Path,
    op: &'a Op,
    next: &mut u64,
) -> Result<(Resolved<'a>, Reply)> {
    let s = |what: &'static str| move |e: redb::StorageError| map_err(path, what, e);
    let mut take = |ns: &str, key: &str, head: &row::Head| {
        *next += 1;
        row::stamp((ns, key), head, *next)
    };
    match op {
        Op::Set(new) => {
            let mut stamped = Vec::with_capacity(new.len());
            for r in new {
                let head = take(&r.namespace, &r.key, &r.head);
                tables.store((&r.namespace, &r.key), [&head, &r.payload])?;
                stamped.push(Stamped {
                    namespace: &r.namespace,
                    key: &r.key,
                    head,
                    payload: r.payload.clone(),
                });
            }
            Ok((Resolved::Rows(stamped), Reply::Done))
        }
        Op::SetIf { row: r, condition } => {
            let id = (r.namespace.as_str(), r.key.as_str());
            let stored_at = row::fixed(&r.head.bytes).map(|f| f.times.stored_at).unwrap_or(0);
            let current = live_version(&tables.rows, path, id, stored_at)?;
            let holds = condition.holds(current);
            if !holds {
                return Ok((
                    Resolved::Nothing,
                    Reply::Outcome(WriteOutcome::NotWritten { current }),
                ));
            }
            let head = take(id.0, id.1, &r.head);
            let version = *next;
            tables.store(id, [&head, &r.payload])?;
            let stamped = Stamped { namespace: id.0, key: id.1, head, payload: r.payload.clone() };
            Ok((Resolved::Rows(vec![stamped]), Reply::Outcome(WriteOutcome::Written { version })))
        }
        Op::Touch(t) => {
            let id = (t.namespace.as_str(), t.key.as_str());
            let now = t.times.stored_at;
            let old = {
                let Some(value) = tables.rows.get(id).map_err(s("reading a row to touch"))? else {
                    return Ok((Resolved::Nothing, Reply::Touched(None)));
                };
                let value = value.value();
                let bad =
                    |d: String| Error::corrupt_row(&path.display().to_string(), id.0, id.1, d);
                let d = row::decode(id, value).map_err(bad)?;
                if !d.times.phase(now).is_live() {
                    return Ok((Resolved::Nothing, Reply::Touched(None)));
                }
                (d.headers, d.tags, Bytes::copy_from_slice(&value[d.payload]))
            };
            let (old_headers, tags, payload) = old;
            let headers = t.headers.as_ref().unwrap_or(&old_headers);
            let head =
                row::encode(&t.times, headers, &tags, &payload).map_err(|d| Error::Backend {
                    backend: "redb",
                    operation: "encoding headers".into(),
                    source: d.into(),
                })?;
            if let Some(limit) = tables.bound.as_deref().map(|b| b.max) {
                let size =
                    crate::bound::row_bytes_of(id, &head.bytes, head.bytes.len() + payload.len());
                if let Some(size) = size.filter(|s| *s > limit) {
                    return Err(Error::PayloadTooLarge { size, limit });
                }
            }
            let head = take(id.0, id.1, &head);
            let version = *next;
            tables.store(id, [&head, &payload])?;
            let stamped = Stamped { namespace: id.0, key: id.1, head, payload };
            Ok((Resolved::Rows(vec![stamped]), Reply::Touched(Some(version))))
        }
        Op::InvalidateTag { tag, now } => {
            let (deleted, live) = tables.invalidate(tag, *now)?;
            Ok((Resolved::Deleted(deleted, *now), Reply::Count(live)))
        }
        other => {
            let e = entry(other).ok_or_else(|| internal("a write without a log entry"))?;
            Ok((Resolved::Other(other), apply(tables, path, &e)?))
        }
    }
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
    /// The last row version handed out (CONTRACT.md §7).
    pub(crate) last_version: u64,
    /// The size bound and its index (CONTRACT.md §11), if the store has one.
    pub(crate) bound: Option<Bound>,
}

impl RedbWriter {
    pub(crate) fn begin(&self) -> Result<WriteTransaction> {
        self.db.get().begin_write().map_err(|e| map_err(&self.path, "starting a write", e))
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
        self.last_version = schema::last_version(&self.db.get(), &self.path)?;
        let (epoch, end) = schema::log_position(&self.db.get(), &self.path)?;
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
                    // The replayed rows carry versions the committed state
                    // may not have counted yet.
                    let replayed = entries
                        .iter()
                        .filter_map(|e| match e {
                            Entry::Set(rows) => Some(rows),
                            _ => None,
                        })
                        .flatten()
                        .filter_map(|r| row::fixed(r.head).ok().map(|f| f.version))
                        .max()
                        .unwrap_or(0);
                    self.last_version = self.last_version.max(replayed);
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
                schema::set_log_position(
                    &txn,
                    &self.path,
                    wal.epoch,
                    log::START,
                    self.last_version,
                )?;
                self.commit(txn, redb::Durability::Immediate)?;
                None
            }
            Some((txn, replayed_end)) => {
                if let Some(txn) = txn {
                    schema::set_log_position(
                        &txn,
                        &self.path,
                        epoch,
                        replayed_end,
                        self.last_version,
                    )?;
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
        if let Some(bound) = self.bound.as_mut().filter(|b| b.stale) {
            bound.rebuild(&self.db, &path)?;
        }
        let evicted_before = self.bound.as_ref().map(Bound::evicted);
        let result = guard(&path, "writing", || self.commit_ops_inner(ops));
        if let Some(bound) = self.bound.as_mut() {
            match &result {
                Ok(_) => bound.publish(),
                Err(_) => {
                    // The index may hold what the file does not.
                    bound.stale = true;
                    bound.set_evicted(evicted_before.unwrap_or(0));
                }
            }
        }
        result
    }

    fn commit_ops_inner(&mut self, ops: &[&Op]) -> Result<Vec<Reply>> {
        let txn = self.begin()?;
        let mut next = self.last_version;
        let mut resolved = Vec::with_capacity(ops.len() + 1);
        let mut replies = Vec::with_capacity(ops.len());
        let mut evicted = None;
        {
            let mut tables = Tables::open(&txn, &self.path)?;
            tables.bound = self.bound.as_mut();
            for op in ops {
                let (r, reply) = resolve(&mut tables, &self.path, op, &mut next)?;
                resolved.push(r);
                replies.push(reply);
            }
            if let Some(bound) = tables.bound.as_deref() {
                let now = cachestore_core::raw::to_unix_millis(bound.clock.now())?;
                let victims = bound.victims(now);
                if !victims.is_empty() {
                    for (ns, key) in &victims {
                        tables.remove((ns, key), "evicting a row over the size bound")?;
                    }
                    let n = victims.len() as u64;
                    evicted = tables.bound.as_deref_mut().map(|b| b.count_evicted(n));
                    resolved.push(Resolved::Deleted(victims, now));
                }
            }
        }
        if let Some(total) = evicted {
            schema::set_meta(&txn, &self.path, "evicted_rows", total)?;
        }
        let versions_taken = next != self.last_version;
        // Handed out from here on, whether or not this commit lands.
        self.last_version = next;
        let entries: Vec<Entry<'_>> = resolved.iter().flat_map(Resolved::entries).collect();
        if entries.is_empty() {
            // Nothing changed (conditions that did not hold, touches of
            // nothing): nothing to log or sync.
            commit(&self.path, txn, redb::Durability::None)?;
            return Ok(replies);
        }
        let Some(wal) = self.log.as_mut() else {
            if versions_taken {
                schema::set_last_version(&txn, &self.path, next)?;
            }
            commit(&self.path, txn, redb::Durability::None)?;
            return Ok(replies);
        };
        let record =
            (!self.needs_checkpoint).then(|| log::record(wal.epoch, &entries)).flatten().filter(
                |r| wal.end + r.len() as u64 <= log::LOG_LIMIT && wal.records < log::RECORD_LIMIT,
            );
        match record {
            Some(record) => {
                let end = wal.end + record.len() as u64;
                schema::set_log_position(&txn, &self.path, wal.epoch, end, next)?;
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
        schema::set_log_position(&txn, &self.path, epoch, log::START, self.last_version)?;
        commit(&self.path, txn, redb::Durability::Immediate)?;
        (wal.epoch, wal.end, wal.records) = (epoch, log::START, 0);
        self.needs_checkpoint = false;
        Ok(())
    }

    /// Compacts the file (CONTRACT.md §11): a checkpoint first, so that the
    /// log holds nothing and every write is in redb's durable state, then
    /// redb's compaction, with the database alone.
    pub(crate) fn compact(&mut self) -> Result<()> {
        self.flush()?;
        let path = self.path.clone();
        guard(&path, "compacting", || self.db.compact(&path).map(drop))
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
    let mut tables = Tables::open(txn, path)?;
    entries.iter().map(|entry| apply(&mut tables, path, entry)).collect()
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

pub(crate) fn apply(tables: &mut Tables<'_>, path: &Path, entry: &Entry<'_>) -> Result<Reply> {
    let s = |op: &'static str| move |e: redb::StorageError| map_err(path, op, e);
    match *entry {
        Entry::Set(ref new_rows) => {
            for r in new_rows {
                tables.store((r.namespace, r.key), [r.head, r.payload])?;
            }
            Ok(Reply::Done)
        }
        Entry::Delete { namespace, key, now } => {
            let old = tables.remove((namespace, key), "deleting a row")?;
            Ok(Reply::Deleted(old.is_some_and(|t| t.phase(now).is_live())))
        }
        Entry::Purge { now } => {
            let dead =
                select(&tables.rows, path, None, |t| !t.phase(now).is_live(), &s("purging"))?;
            for (ns, key, _) in &dead {
                tables.remove((ns.as_str(), key.as_str()), "purging")?;
            }
            Ok(Reply::Count(dead.len() as u64))
        }
        Entry::Clear { namespace, now } => {
            let doomed = select(&tables.rows, path, namespace, |_| true, &s("clearing"))?;
            let mut live = 0;
            for (ns, key, times) in &doomed {
                tables.remove((ns.as_str(), key.as_str()), "clearing")?;
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
