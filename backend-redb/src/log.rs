//! The write-ahead log beside the redb file (`<path>-wal`).
//!
//! A durable redb commit writes every page it changed (the leaves of each
//! row, their branches, the table tree, the freed-page records, the header)
//! and syncs them: about 190 µs here for one row, 270 µs for eight rows on
//! eight leaves. With the log, a durable write instead:
//!
//! 1. applies its writes in a redb transaction, which computes the replies
//!    and catches a failing write before anything is recorded;
//! 2. appends one record holding those writes to the log and syncs it (one
//!    vectored `write` and one `fdatasync` of a file whose blocks already
//!    exist: about 100 µs). The record is the log's own [`Entry`] list, which
//!    borrows the writes' buffers: a payload goes to the log without being
//!    copied into a record first;
//! 3. commits the transaction without a sync (`redb::Durability::None`),
//!    noting in the same transaction how much of the log it holds.
//!
//! The writer answers only after step 3, so a reader never sees a write that
//! a crash could take back. A *checkpoint* commits durably to redb instead,
//! after [`RECORD_LIMIT`] records, when the log would pass [`LOG_LIMIT`],
//! for a group larger than [`DIRECT_LIMIT`] and on
//! [`crate::RedbStore::flush`]. It starts a new *epoch*: a random number
//! recorded in the same commit, so that the records written before it can
//! never be replayed again, and the log is rewritten from its start (its
//! blocks are reused: the file stops growing). Closing the database makes
//! its last commits durable, log position included.
//!
//! At open, the records of the current epoch past the recorded end are
//! replayed in order, committed without a sync, and the epoch goes on after
//! them (no free space is needed to reopen on a full disk). A record is
//! `len: u32, crc32: u32, epoch: u64, body` (little-endian; the CRC covers
//! epoch and body); the
//! first record that is short, of another epoch or fails its CRC ends the
//! log: it is the torn tail of a write that was never answered. Only the
//! last record can be torn, each being synced before the next is written:
//! when an intact record of the epoch follows a bad one, the log was
//! damaged in the middle, and the open fails with `Error::Corrupt` rather
//! than drop acknowledged writes without a word.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cachestore_core::raw::files::PathState;
use cachestore_core::{Error, Result};

/// One write as the log records it and replays it. It borrows its bytes:
/// a record is written from the writes' own buffers, and a replay hands out
/// entries that point into the bytes it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// Insert or overwrite rows.
    Set(Vec<RowEntry<'a>>),
    /// Delete one row, judged live at `now`.
    Delete {
        /// The row's namespace.
        namespace: &'a str,
        /// The row's key.
        key: &'a str,
        /// When (ms since the Unix epoch).
        now: i64,
    },
    /// Delete the rows dead at `now`.
    Purge {
        /// When (ms since the Unix epoch).
        now: i64,
    },
    /// Delete a namespace's rows, or every row.
    Clear {
        /// The namespace; `None` for all.
        namespace: Option<&'a str>,
        /// When (ms since the Unix epoch).
        now: i64,
    },
}

/// A row of an [`Entry::Set`]: its value is `head` then `payload`, two
/// pieces written one after the other (a replayed value is whole in
/// `head`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RowEntry<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) key: &'a str,
    pub(crate) head: &'a [u8],
    pub(crate) payload: &'a [u8],
}

impl RowEntry<'_> {
    fn value_len(&self) -> usize {
        self.head.len() + self.payload.len()
    }
}

/// The companion file's suffix: `cache.redb` logs to `cache.redb-wal`.
pub(crate) const SUFFIX: &str = "-wal";

/// When a record would take the log past this size, a checkpoint is made
/// instead.
pub(crate) const LOG_LIMIT: u64 = 4 * 1024 * 1024;

/// After this many records, the next write is a checkpoint. redb cannot
/// reuse a page that a commit without a sync freed until later durable
/// commits, so the file grows with the commits between checkpoints: after
/// 100k writes of 100 bytes over 10k rows (the benchmark), raw redb with a
/// durable commit per write had 2.7 MiB, the store with this limit 3.4 MiB,
/// with a checkpoint only every 4 MiB of log 13–17 MiB. Checkpointing this
/// often costs a single write 10–15% against every 4 MiB.
pub(crate) const RECORD_LIMIT: u32 = 128;

/// A group whose record would be larger commits durably to redb at once: the
/// sync of its pages is then shared by enough rows to be cheap.
pub(crate) const DIRECT_LIMIT: usize = 1024 * 1024;

/// The log file's first bytes. Anything else at `<path>-wal` is not touched.
const MAGIC: &[u8; 16] = b"cachestore-wal1\n";

/// Where records start.
pub(crate) const START: u64 = MAGIC.len() as u64;

const RECORD_HEAD: usize = 16;

/// Where a log's bytes live: its file, or, in the crash tests, a simulated
/// disk that loses what was not synced.
pub(crate) trait LogIo: Send + std::fmt::Debug {
    /// The current length.
    fn len(&mut self) -> std::io::Result<u64>;
    /// Up to `max` bytes from `at` (fewer at the end).
    fn read_at(&mut self, at: u64, max: u64) -> std::io::Result<Vec<u8>>;
    /// Writes `data` at `at`, growing the file as needed.
    fn write_at(&mut self, at: u64, data: &[u8]) -> std::io::Result<()>;
    /// Writes `parts` one after the other from `at`.
    fn write_parts_at(&mut self, mut at: u64, parts: &[&[u8]]) -> std::io::Result<()> {
        for part in parts {
            self.write_at(at, part)?;
            at += part.len() as u64;
        }
        Ok(())
    }
    /// Makes every write so far durable.
    fn sync(&mut self) -> std::io::Result<()>;
    /// Cuts or grows to `len`.
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl LogIo for File {
    fn len(&mut self) -> std::io::Result<u64> {
        self.metadata().map(|m| m.len())
    }

    fn read_at(&mut self, at: u64, max: u64) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.seek(SeekFrom::Start(at))?;
        Read::take(self, max).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn write_at(&mut self, at: u64, data: &[u8]) -> std::io::Result<()> {
        self.seek(SeekFrom::Start(at))?;
        self.write_all(data)
    }

    /// One vectored write (as few system calls as the kernel allows): the
    /// parts are not first copied into one buffer.
    fn write_parts_at(&mut self, at: u64, parts: &[&[u8]]) -> std::io::Result<()> {
        self.seek(SeekFrom::Start(at))?;
        let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.write_vectored(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }

    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        File::set_len(self, len)
    }
}

/// The log of one store, opened after redb locked the database file (so no
/// other process writes it).
#[derive(Debug)]
pub(crate) struct Log {
    file: Box<dyn LogIo>,
    path: PathBuf,
    /// Where the next record goes.
    pub(crate) end: u64,
    /// The epoch of the records being written.
    pub(crate) epoch: u64,
    /// Records written since the last checkpoint.
    pub(crate) records: u32,
}

impl Log {
    /// Refuses a file at the log's path that is not a cachestore log, before
    /// anything is created or changed: [`Error::Incompatible`], left
    /// untouched. A log of ours whose first bytes were damaged is
    /// [`Error::Corrupt`].
    pub(crate) fn check(db_path: &Path) -> Result<()> {
        let path = cachestore_core::raw::files::sidecar(db_path, SUFFIX);
        if cachestore_core::raw::files::check_path(&path)? == PathState::New {
            return Ok(());
        }
        let mut file = File::open(&path)
            .map_err(|e| Error::io(format!("opening the write-ahead log {}", path.display()), e))?;
        head_of(&path, &mut file).map(drop)
    }

    /// Opens (or creates, 0600) the log of the database at `db_path`, and
    /// says whether it was new (or empty, or cut inside its first bytes by a
    /// crash while it was created). A file there that is not a cachestore
    /// log is refused with [`Error::Incompatible`] and left untouched.
    pub(crate) fn open(db_path: &Path) -> Result<(Log, bool)> {
        let path = cachestore_core::raw::files::sidecar(db_path, SUFFIX);
        cachestore_core::raw::files::check_path(&path)?;
        cachestore_core::raw::files::create_private_file(&path)?;
        let file =
            OpenOptions::new().read(true).write(true).open(&path).map_err(|e| {
                Error::io(format!("opening the write-ahead log {}", path.display()), e)
            })?;
        Log::over(Box::new(file), path)
    }

    /// The log kept in `file` (named `path` in messages): a log of ours, or
    /// a new one, whose first bytes are written and synced here.
    pub(crate) fn over(mut file: Box<dyn LogIo>, path: PathBuf) -> Result<(Log, bool)> {
        let io = |what: &str, e| Error::io(format!("{what} {}", path.display()), e);
        let new = head_of(&path, &mut *file)? == Head::New;
        if new {
            file.set_len(0).map_err(|e| io("emptying", e))?;
            file.write_at(0, MAGIC).map_err(|e| io("writing", e))?;
            file.sync().map_err(|e| io("syncing", e))?;
        }
        Ok((Log { file, path, end: START, epoch: 0, records: 0 }, new))
    }

    /// Reads every intact record of `epoch` from `from` on (at most
    /// `max_bytes`) and, once the log is found sound, hands their writes, in
    /// order, to `apply`. Returns what `apply` returned and where the
    /// records end.
    pub(crate) fn replay<R>(
        &mut self,
        epoch: u64,
        from: u64,
        max_bytes: u64,
        apply: impl FnOnce(&[Entry<'_>]) -> Result<R>,
    ) -> Result<(R, u64)> {
        let io = |e| Error::io(format!("reading the write-ahead log {}", self.path.display()), e);
        let len = self.file.len().map_err(io)?;
        let available = len.saturating_sub(from).min(max_bytes);
        let bytes = self.file.read_at(from, available).map_err(io)?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        while let Some((body, next)) = record_at(&bytes, at, epoch) {
            let mut group = decode_body(body).ok_or_else(|| {
                self.damaged(from + at as u64, "a record passed its checksum but does not decode")
            })?;
            entries.append(&mut group);
            at = next;
        }
        // Only the last record can be torn (each was synced before the next
        // was written): an intact record of this epoch further on means the
        // log was damaged in the middle, and replaying up to the damage
        // would silently drop acknowledged writes.
        let marker = epoch.to_le_bytes();
        let later = (at + 1..bytes.len().saturating_sub(RECORD_HEAD))
            .find(|&q| bytes[q + 8..q + 16] == marker && record_at(&bytes, q, epoch).is_some());
        if let Some(q) = later {
            return Err(self.damaged(
                from + at as u64,
                &format!("an intact record follows at byte {}", from + q as u64),
            ));
        }
        Ok((apply(&entries)?, from + at as u64))
    }

    fn damaged(&self, at: u64, why: &str) -> Error {
        Error::Corrupt {
            location: self.path.display().to_string(),
            detail: format!(
                "the write-ahead log is damaged at byte {at} ({why}); writes recorded after it \
                 would be lost. Open with recreate_if_corrupt to move the database and its log \
                 aside and start empty"
            ),
            source: None,
        }
    }

    /// Cuts the file at `end` when what follows is the start of a record
    /// of `epoch` (one that a crash tore): records written later at `end`
    /// could otherwise be followed by the rest of it. Leftovers of earlier
    /// epochs are left; they never match.
    pub(crate) fn cut_torn_tail(&mut self, epoch: u64, end: u64) -> Result<()> {
        let io = |e| Error::io(format!("cutting the write-ahead log {}", self.path.display()), e);
        let head = self.file.read_at(end, RECORD_HEAD as u64).map_err(io)?;
        let read = head.len();
        if read > 0 && (read < RECORD_HEAD || head[8..16] == epoch.to_le_bytes()) {
            self.file.set_len(end).map_err(io)?;
        }
        Ok(())
    }

    /// Appends `record` at [`Log::end`] and syncs it; does not move `end`.
    pub(crate) fn write(&mut self, record: &Record<'_>) -> Result<()> {
        let io = |e| Error::io(format!("writing the write-ahead log {}", self.path.display()), e);
        self.file.write_parts_at(self.end, &record.parts()).map_err(io)?;
        self.file.sync().map_err(io)
    }
}

/// What a log file's first bytes say.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Empty, or a prefix of [`MAGIC`]: a log whose creation a crash cut
    /// short, which holds no record.
    New,
    /// A cachestore log.
    Ours,
}

/// Reads the first bytes of the log at `path`: a log of ours, a new one, or
/// an error (a damaged header of ours is [`Error::Corrupt`], anything else
/// [`Error::Incompatible`]).
fn head_of(path: &Path, file: &mut dyn LogIo) -> Result<Head> {
    let bytes = file
        .read_at(0, MAGIC.len() as u64)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let read = bytes.len();
    let mut head = [0u8; MAGIC.len()];
    head[..read].copy_from_slice(&bytes);
    if head[..read] == MAGIC[..read] {
        return Ok(if read == MAGIC.len() { Head::Ours } else { Head::New });
    }
    // A few damaged bytes in a full header: ours, damaged. Anything further
    // from it is another program's file.
    let differing = head.iter().zip(MAGIC).filter(|(a, b)| a != b).count();
    if read == MAGIC.len() && differing <= 4 {
        return Err(Error::Corrupt {
            location: path.display().to_string(),
            detail: format!(
                "the write-ahead log's header is damaged ({differing} of its {} bytes). Open \
                 with recreate_if_corrupt to move the database and its log aside and start \
                 empty",
                MAGIC.len()
            ),
            source: None,
        });
    }
    Err(Error::Incompatible {
        path: path.into(),
        detail: "not a cachestore write-ahead log, yet named like the log of this database; it \
                 was left untouched. Move it away, or use another path"
            .into(),
    })
}

/// The body of the intact record of `epoch` at `at`, and where the next
/// record starts.
fn record_at(bytes: &[u8], at: usize, epoch: u64) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(RECORD_HEAD)?)?;
    let len = u32::from_le_bytes(head[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..8].try_into().ok()?);
    if u64::from_le_bytes(head[8..16].try_into().ok()?) != epoch || len == 0 {
        return None;
    }
    let body_start = at + RECORD_HEAD;
    let body = bytes.get(body_start..body_start.checked_add(len)?)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&head[8..16]);
    h.update(body);
    (h.finalize() == crc).then_some((body, body_start + len))
}

/// A new random epoch: a record of it cannot be forged by a payload written
/// in an earlier one.
pub(crate) fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    // 0 is what a file without log entries reads as.
    h.finish().max(1)
}

/// A record ready to write: its framing (the head, tags, lengths and
/// identities) in one buffer, and the rows' values borrowed where they are.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    frame: Vec<u8>,
    /// After `frame[..cut]`, the borrowed bytes; in order.
    values: Vec<(usize, &'a [u8])>,
    len: usize,
}

impl Record<'_> {
    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Its bytes, in order, in pieces.
    fn parts(&self) -> Vec<&[u8]> {
        let mut parts = Vec::with_capacity(self.values.len() * 2 + 1);
        let mut at = 0;
        for &(cut, bytes) in &self.values {
            parts.push(&self.frame[at..cut]);
            parts.push(bytes);
            at = cut;
        }
        parts.push(&self.frame[at..]);
        parts.retain(|p| !p.is_empty());
        parts
    }

    /// Its bytes in one buffer (for tests).
    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }
}

/// The record of `entries` in `epoch`, or `None` when they are larger than
/// [`DIRECT_LIMIT`]. Values are not copied: the record borrows them.
pub(crate) fn record<'a>(epoch: u64, entries: &[Entry<'a>]) -> Option<Record<'a>> {
    // Sized before anything is copied: a group too large for the log (a
    // 1 MiB value, say) is checkpointed at once.
    let body = entries.iter().try_fold(0usize, |n, e| n.checked_add(entry_len(e)?))?;
    if body > DIRECT_LIMIT {
        return None;
    }
    let values: usize = entries
        .iter()
        .map(|e| match e {
            Entry::Set(rows) => rows.iter().map(RowEntry::value_len).sum(),
            _ => 0,
        })
        .sum();
    let mut record = Record {
        frame: Vec::with_capacity(RECORD_HEAD + body - values),
        values: Vec::new(),
        len: 0,
    };
    record.frame.resize(RECORD_HEAD, 0);
    record.frame[8..16].copy_from_slice(&epoch.to_le_bytes());
    for entry in entries {
        encode_entry(&mut record, entry)?;
    }
    record.len = RECORD_HEAD + body;
    let len = u32::try_from(body).ok()?;
    record.frame[0..4].copy_from_slice(&len.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    for (i, part) in record.parts().into_iter().enumerate() {
        // The CRC covers the epoch and the body: skip the length and the
        // CRC itself (the first 8 bytes, in the first part).
        h.update(if i == 0 { &part[8..] } else { part });
    }
    let crc = h.finalize();
    record.frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Some(record)
}

/// How many bytes [`encode_entry`] adds for `entry`; `None` past `usize`.
fn entry_len(entry: &Entry<'_>) -> Option<usize> {
    let bytes = |n: usize| n.checked_add(4);
    match entry {
        Entry::Set(rows) => rows.iter().try_fold(5usize, |n, r| {
            n.checked_add(bytes(r.namespace.len())?)?
                .checked_add(bytes(r.key.len())?)?
                .checked_add(bytes(r.value_len())?)
        }),
        Entry::Delete { namespace, key, .. } => {
            Some(1 + bytes(namespace.len())? + bytes(key.len())? + 8)
        }
        Entry::Purge { .. } | Entry::Clear { namespace: None, .. } => Some(9),
        Entry::Clear { namespace: Some(namespace), .. } => Some(1 + bytes(namespace.len())? + 8),
    }
}

const SET: u8 = 1;
const DELETE: u8 = 2;
const PURGE: u8 = 3;
const CLEAR_NAMESPACE: u8 = 4;
const CLEAR_ALL: u8 = 5;

fn put_len(out: &mut Vec<u8>, n: usize) -> Option<()> {
    out.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    Some(())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    put_len(out, b.len())?;
    out.extend_from_slice(b);
    Some(())
}

/// Appends `entry` to `record`; `None` when a length does not fit its field.
fn encode_entry<'a>(record: &mut Record<'a>, entry: &Entry<'a>) -> Option<()> {
    let out = &mut record.frame;
    match entry {
        Entry::Set(rows) => {
            out.push(SET);
            put_len(out, rows.len())?;
            for r in rows {
                let out = &mut record.frame;
                put_bytes(out, r.namespace.as_bytes())?;
                put_bytes(out, r.key.as_bytes())?;
                put_len(out, r.value_len())?;
                let cut = out.len();
                record.values.extend([(cut, r.head), (cut, r.payload)]);
            }
        }
        &Entry::Delete { namespace, key, now } => {
            out.push(DELETE);
            put_bytes(out, namespace.as_bytes())?;
            put_bytes(out, key.as_bytes())?;
            out.extend_from_slice(&now.to_le_bytes());
        }
        &Entry::Purge { now } => {
            out.push(PURGE);
            out.extend_from_slice(&now.to_le_bytes());
        }
        &Entry::Clear { namespace: Some(namespace), now } => {
            out.push(CLEAR_NAMESPACE);
            put_bytes(out, namespace.as_bytes())?;
            out.extend_from_slice(&now.to_le_bytes());
        }
        &Entry::Clear { namespace: None, now } => {
            out.push(CLEAR_ALL);
            out.extend_from_slice(&now.to_le_bytes());
        }
    }
    Some(())
}

/// Reads a record body, bounds-checked: `None` when it is not a whole,
/// well-formed list of writes. The entries borrow from `b`.
fn decode_body(mut b: &[u8]) -> Option<Vec<Entry<'_>>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = b.split_at_checked(n)?;
        *b = rest;
        Some(head)
    }
    fn u32_(b: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
    }
    fn i64_(b: &mut &[u8]) -> Option<i64> {
        Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn string<'a>(b: &mut &'a [u8]) -> Option<&'a str> {
        let n = u32_(b)?;
        std::str::from_utf8(take(b, n)?).ok()
    }
    let mut entries = Vec::new();
    while let Some((&tag, rest)) = b.split_first() {
        b = rest;
        let entry = match tag {
            SET => {
                let n = u32_(&mut b)?;
                // Each row takes at least 12 bytes: no allocation from a
                // count the body cannot hold.
                let mut rows = Vec::with_capacity(n.min(b.len() / 12));
                for _ in 0..n {
                    let namespace = string(&mut b)?;
                    let key = string(&mut b)?;
                    let len = u32_(&mut b)?;
                    let head = take(&mut b, len)?;
                    rows.push(RowEntry { namespace, key, head, payload: &[] });
                }
                Entry::Set(rows)
            }
            DELETE => {
                let namespace = string(&mut b)?;
                let key = string(&mut b)?;
                Entry::Delete { namespace, key, now: i64_(&mut b)? }
            }
            PURGE => Entry::Purge { now: i64_(&mut b)? },
            CLEAR_NAMESPACE => {
                let namespace = string(&mut b)?;
                Entry::Clear { namespace: Some(namespace), now: i64_(&mut b)? }
            }
            CLEAR_ALL => Entry::Clear { namespace: None, now: i64_(&mut b)? },
            _ => return None,
        };
        entries.push(entry);
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &[u8] = &[1, 2, 3, 4, 5];

    fn sample() -> Vec<Entry<'static>> {
        vec![
            Entry::Set(vec![
                RowEntry { namespace: "a", key: "k\0:1", head: &VALUE[..2], payload: &VALUE[2..] },
                RowEntry { namespace: "ns", key: "é", head: b"", payload: b"" },
            ]),
            Entry::Delete { namespace: "a", key: "k", now: -5 },
            Entry::Purge { now: 42 },
            Entry::Clear { namespace: Some("x"), now: 7 },
            Entry::Clear { namespace: None, now: i64::MAX },
        ]
    }

    /// Entries with each value whole, as a replay gives them.
    fn describe(entries: &[Entry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Set(rows) => format!(
                    "set {:?}",
                    rows.iter()
                        .map(|r| (r.namespace, r.key, [r.head, r.payload].concat()))
                        .collect::<Vec<_>>()
                ),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn entry_len_is_what_encode_entry_adds_and_values_are_borrowed_not_copied() {
        for entry in sample() {
            let one = record(1, std::slice::from_ref(&entry)).expect("small");
            assert_eq!(Some(one.len() - RECORD_HEAD), entry_len(&entry), "{entry:?}");
            assert_eq!(one.to_vec().len(), one.len(), "{entry:?}");
        }
        let big = [0u8; 64 * 1024];
        let entries =
            [Entry::Set(vec![RowEntry { namespace: "n", key: "k", head: b"h", payload: &big }])];
        let record = record(3, &entries).expect("small enough");
        assert!(record.frame.len() < 64, "the payload was copied into the record's frame");
        let parts = record.parts();
        assert!(
            parts.iter().any(|p| p.as_ptr() == big.as_ptr()),
            "the payload is written in place"
        );
        let huge = vec![0u8; DIRECT_LIMIT];
        let over =
            [Entry::Set(vec![RowEntry { namespace: "n", key: "k", head: b"h", payload: &huge }])];
        assert!(super::record(3, &over).is_none(), "over the direct limit: no record");
    }

    fn log_in(dir: &Path) -> Log {
        Log::open(&dir.join("db")).expect("open log").0
    }

    fn replay(log: &mut Log, epoch: u64) -> Result<(Vec<String>, u64)> {
        log.replay(epoch, START, u64::MAX, |entries| Ok(describe(entries)))
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_ends_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path());
        let entries = sample();
        let record = record(9, &entries).expect("small");
        log.write(&record).expect("write");
        log.end += record.len() as u64;
        let first_end = log.end;
        // A second record, torn: only part of it reached the file.
        let second = super::record(9, &entries[..1]).expect("small").to_vec();
        log.file.write_at(log.end, &second[..second.len() - 1]).expect("write");

        let mut log = log_in(dir.path());
        let (replayed, end) = replay(&mut log, 9).expect("replay");
        assert_eq!(replayed, describe(&entries));
        assert_eq!(end, first_end, "the torn record is not part of the log");
        // Another epoch's records are not replayed.
        let (other, end) = replay(&mut log, 10).expect("replay");
        assert!(other.is_empty());
        assert_eq!(end, START);
    }

    #[test]
    fn damage_to_the_last_record_ends_the_log_and_earlier_damage_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path());
        let entries = sample();
        let record = record(3, &entries).expect("small");
        for _ in 0..2 {
            log.write(&record).expect("write");
            log.end += record.len() as u64;
        }
        let path = log.path.clone();
        let mut bytes = std::fs::read(&path).expect("read");
        let second = START as usize + record.len();
        for at in [second + 2, second + 9, second + RECORD_HEAD + 3, bytes.len() - 1] {
            bytes[at] ^= 0x40;
            std::fs::write(&path, &bytes).expect("write");
            let (replayed, end) = replay(&mut log_in(dir.path()), 3).expect("replay");
            assert_eq!(replayed, describe(&entries), "flip at {at}");
            assert_eq!(end, second as u64);
            bytes[at] ^= 0x40;
        }
        // The same damage to the first record is refused: the second, an
        // acknowledged write, would be lost.
        for at in [START as usize + 2, START as usize + RECORD_HEAD + 3] {
            bytes[at] ^= 0x40;
            std::fs::write(&path, &bytes).expect("write");
            let err = replay(&mut log_in(dir.path()), 3).expect_err("damaged");
            assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
            assert!(err.to_string().contains("recreate_if_corrupt"), "{err}");
            bytes[at] ^= 0x40;
        }
    }

    #[test]
    fn a_record_that_passes_its_crc_but_does_not_decode_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path());
        // A well-formed record around a body of an unknown kind of write.
        let body = [99u8, 1, 2, 3];
        let mut record = vec![0u8; RECORD_HEAD];
        record[0..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
        record[8..16].copy_from_slice(&5u64.to_le_bytes());
        record.extend_from_slice(&body);
        let crc = crc32fast::hash(&record[8..]);
        record[4..8].copy_from_slice(&crc.to_le_bytes());
        log.file.write_at(log.end, &record).expect("write");
        let err = replay(&mut log_in(dir.path()), 5).expect_err("undecodable");
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("does not decode"), "{err}");
    }

    #[test]
    fn a_foreign_file_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db-wal");
        std::fs::write(&path, b"my notes, not a log").expect("write");
        let err = Log::open(&dir.path().join("db")).expect_err("refused");
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).expect("read"), b"my notes, not a log");
    }

    #[test]
    fn bodies_that_lie_about_their_lengths_do_not_decode() {
        let entries = sample();
        let record = record(1, &entries).expect("small").to_vec();
        let body = &record[RECORD_HEAD..];
        let whole = describe(&entries);
        for cut in 0..body.len() {
            // A prefix decodes to fewer writes (it ends between two) or not
            // at all; never to different ones.
            if let Some(part) = decode_body(&body[..cut]) {
                let part = describe(&part);
                assert!(part.len() < whole.len() && whole.starts_with(&part), "cut at {cut}");
            }
        }
        // A row count of 2^32 - 1 with no rows behind it.
        let forged = [SET, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_body(&forged).is_none());
        assert!(decode_body(&[99]).is_none(), "unknown tag");
        assert_eq!(describe(&decode_body(body).expect("decodes")), whole);
    }

    #[test]
    fn a_vectored_write_writes_every_part_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = tempfile::tempfile_in(dir.path()).expect("file");
        let big = vec![9u8; 300_000];
        let parts: [&[u8]; 4] = [b"ab", &big, b"", b"cd"];
        file.write_parts_at(3, &parts).expect("write");
        let bytes = LogIo::read_at(&mut file, 0, u64::MAX).expect("read");
        assert_eq!(bytes, [&[0u8; 3][..], b"ab", &big, b"cd"].concat());
        assert_ne!(new_epoch(), new_epoch());
    }
}
