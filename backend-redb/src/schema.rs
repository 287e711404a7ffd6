//! The tables of a cachestore redb file, its format version, and the checks
//! made before redb opens a file.

use std::fs::File;
use std::path::Path;

use cachestore_core::raw::files;
use cachestore_core::{Error, Result};
use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};

use crate::error::map_err;

pub(crate) use cachestore_core::raw::files::corrupt;

/// The format version of the tables (the `format` entry of `cachestore_meta`).
///
/// - 1: the rows table and `format`.
/// - 2: writes are made durable through the write-ahead log, whose position
///   the meta table records (`log_epoch`, `log_end`). The tables are those of
///   format 1; the number changed so that code from before the log, which
///   would ignore the records a crash left in it, refuses the file instead of
///   losing acknowledged writes.
/// - 3: every value's checksum covers its identity (value format 2, see
///   [`crate::row`]), so that a damaged key cannot serve another row.
/// - 4: headers in core's encoding, shared with the other backends, instead
///   of bincode's (value format 3).
/// - 5: row versions (CONTRACT.md §7): values of format 4 carry one, and
///   `last_version` in the meta table is the last handed out. Values of
///   format 3 stay as they are, read as version 0: the upgrade from 4 only
///   records the new format (an older cachestore then refuses the file as
///   newer instead of taking format-4 values for damage).
/// - 6: tags (CONTRACT.md §9): values of format 5 carry them, and the
///   `cachestore_tags` table indexes them. Values of format 3 and 4 stay as
///   they are, read as untagged; the upgrade from 5 creates the empty index
///   and records the format, in O(1).
///
/// A file of format 1 to 3 is upgraded at its first open, in one durable
/// commit that rewrites every value and the format together (after the log
/// was replayed): a crash before it leaves the old format, after it the new.
pub const SCHEMA_VERSION: u64 = 6;

/// `(namespace, key)` → the encoded row (see [`crate::row`]).
pub(crate) const ROWS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("cachestore_rows");

/// `(tag, namespace, key)` for every tag of every row: the rows
/// `invalidate_tag` reads, and no others. Kept in the transaction of every
/// write that adds or removes a tagged row.
pub(crate) const TAGS: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("cachestore_tags");

/// `format` → [`SCHEMA_VERSION`]; `log_epoch` and `log_end`: the epoch of
/// the write-ahead log and how much of it this state holds (see
/// [`crate::log`]). A file without them (written before the log existed)
/// reads as epoch 0, which the log never uses. `last_version`: the last row
/// version handed out (0 when absent).
const META: TableDefinition<&str, u64> = TableDefinition::new("cachestore_meta");

/// The log position recorded in the committed state: `(epoch, end)`.
pub(crate) fn log_position(db: &Database, path: &Path) -> Result<(u64, u64)> {
    let err = |e: redb::Error| map_err(path, "reading the log position", e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    let get = |name: &str| -> Result<Option<u64>> {
        Ok(meta.get(name).map_err(|e| err(e.into()))?.map(|v| v.value()))
    };
    Ok((get("log_epoch")?.unwrap_or(0), get("log_end")?.unwrap_or(crate::log::START)))
}

/// Records the log position in `txn`, and the last row version handed out.
pub(crate) fn set_log_position(
    txn: &WriteTransaction,
    path: &Path,
    epoch: u64,
    end: u64,
    last_version: u64,
) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "recording the log position", e);
    // One open of the table for all three: in a write transaction each open
    // and close of a table updates the table tree.
    let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    meta.insert("log_epoch", epoch).map_err(|e| err(e.into()))?;
    meta.insert("log_end", end).map_err(|e| err(e.into()))?;
    meta.insert("last_version", last_version).map_err(|e| err(e.into()))?;
    Ok(())
}

/// The last row version handed out, as committed.
pub(crate) fn last_version(db: &Database, path: &Path) -> Result<u64> {
    let err = |e: redb::Error| map_err(path, "reading the last row version", e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    Ok(meta.get("last_version").map_err(|e| err(e.into()))?.map_or(0, |v| v.value()))
}

/// A number of the meta table (`evicted_rows`, say); 0 when absent.
pub(crate) fn meta(db: &Database, path: &Path, name: &str) -> Result<u64> {
    let err = |e: redb::Error| map_err(path, "reading the meta table", e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    Ok(meta.get(name).map_err(|e| err(e.into()))?.map_or(0, |v| v.value()))
}

/// Records a number in the meta table, in `txn`.
pub(crate) fn set_meta(txn: &WriteTransaction, path: &Path, name: &str, value: u64) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "writing the meta table", e);
    let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    meta.insert(name, value).map_err(|e| err(e.into()))?;
    Ok(())
}

/// Records the last row version handed out in `txn`.
pub(crate) fn set_last_version(txn: &WriteTransaction, path: &Path, version: u64) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "recording the last row version", e);
    let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    meta.insert("last_version", version).map_err(|e| err(e.into()))?;
    Ok(())
}

const REDB_MAGIC: &[u8; 9] = &[b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// redb's file header: a file shorter than this was cut.
const REDB_HEADER_LEN: u64 = 320;

/// Refuses what is not a redb file before redb sees it. Only reads: files
/// are created aside and linked into place whole (see [`create`]), so what
/// is at the path is never half-made.
pub(crate) fn inspect(path: &Path) -> Result<()> {
    // redb's magic, or enough of another kind of file to say what it is.
    let mut head = vec![0u8; 4096];
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let read = files::read_up_to(&mut file, &mut head)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if read < REDB_MAGIC.len() || &head[..REDB_MAGIC.len()] != REDB_MAGIC {
        // Another kind of file (a SQLite database, a text file) is said to be
        // what it is and left alone; only what looks like nothing is damage.
        if let Some(what) = files::identify(&head[..read]) {
            return Err(files::not_ours(path, what, "redb"));
        }
        return Err(corrupt(path, "not a redb database (no redb header)"));
    }
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?
        .len();
    if len < REDB_HEADER_LEN {
        return Err(corrupt(path, format!("a redb file cut to {len} bytes, inside its header")));
    }
    Ok(())
}

fn list_tables(db: &impl ReadableDatabase, path: &Path) -> Result<Vec<String>> {
    let err = |e: redb::Error| map_err(path, "reading the schema", e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let tables = txn.list_tables().map_err(|e| err(e.into()))?;
    Ok(tables.map(|t| t.name().to_owned()).collect())
}

/// A file with tables must have ours.
fn check_tables(tables: &[String], path: &Path) -> Result<()> {
    let ours = |name: &str| tables.iter().any(|t| t == name);
    if tables.is_empty() || (ours("cachestore_meta") && ours("cachestore_rows")) {
        return Ok(());
    }
    Err(Error::Incompatible {
        path: path.into(),
        detail: format!(
            "a redb database of another program (tables: {}); it was left untouched",
            tables.join(", ")
        ),
    })
}

/// Creates the tables of a database with none, at the current format.
fn create_tables(db: &Database, path: &Path) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "creating the schema", e);
    let txn = db.begin_write().map_err(|e| err(e.into()))?;
    {
        txn.open_table(ROWS).map_err(|e| err(e.into()))?;
        txn.open_table(TAGS).map_err(|e| err(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
        meta.insert("format", SCHEMA_VERSION).map_err(|e| err(e.into()))?;
    }
    txn.commit().map_err(|e| err(e.into()))
}

/// Creates a new store at `path` whole: the database is made under a
/// temporary name beside it, with its tables, synced, and then linked into
/// place, which fails if another process linked its own first (that one is
/// then opened). With `replace`, it is renamed over the empty file at
/// `path`, which the caller holds locked. A crash at any moment leaves
/// either no file (or the empty one) at `path` or a complete one; a
/// temporary file left by a crash is removed by a later creation once it is
/// a minute old.
pub(crate) fn create(path: &Path, replace: bool) -> Result<()> {
    let tmp =
        files::sidecar(path, &format!(".creating-{}-{}", std::process::id(), creation_counter()));
    remove_stale_temporaries(path);
    files::create_private_file(&tmp)?;
    let made = (|| {
        let db = Database::builder().create(&tmp).map_err(|e| map_err(&tmp, "creating", e))?;
        create_tables(&db, &tmp)?;
        drop(db);
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
        let placed =
            if replace { std::fs::rename(&tmp, path) } else { std::fs::hard_link(&tmp, path) };
        match placed {
            Ok(()) => files::sync_parent(path),
            // Another process created it first: open that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(format!("linking the new store to {}", path.display()), e)),
        }
    })();
    let removed = match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    made?;
    removed.map_err(|e| Error::io(format!("removing {}", tmp.display()), e))
}

fn creation_counter() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Removes `<name>.creating-*` files beside `path` older than a minute: a
/// creation takes milliseconds, so such a file was left by a crash.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut prefix = name.to_owned();
    prefix.push(".creating-");
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(&prefix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Checks that an opened database is ours and not newer than this code,
/// creating the tables of one that has none; returns its format.
pub(crate) fn prepare(db: &Database, path: &Path) -> Result<u64> {
    let err = |op: &'static str| move |e: redb::Error| map_err(path, op, e);
    let tables = list_tables(db, path)?;
    if tables.is_empty() {
        create_tables(db, path)?;
        return Ok(SCHEMA_VERSION);
    }
    check_tables(&tables, path)?;
    let txn = db.begin_read().map_err(|e| err("reading the schema")(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| err("reading the schema")(e.into()))?;
    let version = meta
        .get("format")
        .map_err(|e| err("reading the schema")(e.into()))?
        .map(|v| v.value())
        .ok_or_else(|| corrupt(path, "the format version is missing"))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: format!(
                "written by a newer cachestore (format {version}; this one reads up to \
                 {SCHEMA_VERSION}). It was left untouched. Upgrade cachestore-redb, or use \
                 another path"
            ),
        });
    }
    if version == 0 {
        return Err(corrupt(path, "the format version is 0"));
    }
    Ok(version)
}

/// Upgrades a file of format `from` in `txn` (which must commit durably):
/// from 1 to 3 every value is rewritten in the current value format (version
/// 0, no tags), from 4 and 5 the values stay; the (empty) tag index is
/// created and the format set to [`SCHEMA_VERSION`]. A value that fails its
/// old checksum is [`Error::Corrupt`] and nothing is changed.
pub(crate) fn upgrade(txn: &WriteTransaction, path: &Path, from: u64) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "upgrading the format", e);
    txn.open_table(TAGS).map_err(|e| err(e.into()))?;
    if from >= 4 {
        // Format 3 and 4 values are read as they are (version 0, no tags).
        txn.open_table(META)
            .map_err(|e| err(e.into()))?
            .insert("format", SCHEMA_VERSION)
            .map_err(|e| err(e.into()))?;
        return Ok(());
    }
    let mut rows = txn.open_table(ROWS).map_err(|e| err(e.into()))?;
    let mut upgraded = Vec::new();
    for item in rows.iter().map_err(|e| err(e.into()))? {
        let (k, v) = item.map_err(|e| err(e.into()))?;
        let (ns, key) = k.value();
        let value = v.value();
        let (times, headers, payload) =
            crate::row::decode_old(from, (ns, key), value).map_err(|d| {
                corrupt(path, format!("row ({ns:?}, {key:?}) during the format upgrade: {d}"))
            })?;
        let tags = cachestore_core::Tags::new();
        let head = crate::row::encode(&times, &headers, &tags, &value[payload.clone()])
            .map(|head| crate::row::stamp((ns, key), &head, 0))
            .map_err(|d| corrupt(path, format!("re-encoding row ({ns:?}, {key:?}): {d}")))?;
        upgraded.push((ns.to_owned(), key.to_owned(), head, value[payload].to_vec()));
    }
    for (ns, key, head, payload) in &upgraded {
        crate::writer::put(&mut rows, (ns, key), [head, payload]).map_err(|e| err(e.into()))?;
    }
    txn.open_table(META)
        .map_err(|e| err(e.into()))?
        .insert("format", SCHEMA_VERSION)
        .map_err(|e| err(e.into()))?;
    Ok(())
}
