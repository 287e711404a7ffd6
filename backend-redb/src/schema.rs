//! The tables of a cachestore redb file, its format version, and the checks
//! made before redb opens a file.

use std::fs::File;
use std::path::Path;

use cachestore_core::files::{self, PathState};
use cachestore_core::{Error, Result};
use redb::{Database, ReadableDatabase, TableDefinition, TableHandle, WriteTransaction};

use crate::map_err;

pub(crate) use cachestore_core::files::corrupt;

/// The format version of the tables (the `format` entry of `cachestore_meta`).
///
/// - 1: the rows table and `format`.
/// - 2: writes are made durable through the write-ahead log, whose position
///   the meta table records (`log_epoch`, `log_end`). The tables are those of
///   format 1; the number changed so that code from before the log, which
///   would ignore the records a crash left in it, refuses the file instead of
///   losing acknowledged writes. A format-1 file is upgraded at its first
///   open.
pub const SCHEMA_VERSION: u64 = 2;

/// `(namespace, key)` → the encoded row (see [`crate::row`]).
pub(crate) const ROWS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("cachestore_rows");

/// `format` → [`SCHEMA_VERSION`]; `log_epoch` and `log_end`: the epoch of
/// the write-ahead log and how much of it this state holds (see
/// [`crate::log`]). A file without them (written before the log existed)
/// reads as epoch 0, which the log never uses.
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

/// Starts a log epoch in `txn`: the position, and the format that has one
/// (upgrading a format-1 file).
pub(crate) fn start_epoch(txn: &WriteTransaction, path: &Path, epoch: u64) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "starting a log epoch", e);
    txn.open_table(META)
        .map_err(|e| err(e.into()))?
        .insert("format", SCHEMA_VERSION)
        .map_err(|e| err(e.into()))?;
    set_log_position(txn, path, epoch, crate::log::START)
}

/// Records the log position in `txn`.
pub(crate) fn set_log_position(
    txn: &WriteTransaction,
    path: &Path,
    epoch: u64,
    end: u64,
) -> Result<()> {
    let err = |e: redb::Error| map_err(path, "recording the log position", e);
    let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
    meta.insert("log_epoch", epoch).map_err(|e| err(e.into()))?;
    meta.insert("log_end", end).map_err(|e| err(e.into()))?;
    Ok(())
}

const REDB_MAGIC: &[u8; 9] = &[b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Refuses what is not a redb file before redb sees it, so that nothing can
/// write to it.
pub(crate) fn inspect(path: &Path) -> Result<()> {
    if files::check_path(path)? == PathState::New {
        return Ok(());
    }
    let mut head = [0u8; 16];
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let read = files::read_up_to(&mut file, &mut head)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if read == head.len() && &head == SQLITE_MAGIC {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: "a SQLite database, not a redb file; it was left untouched. Use another \
                     path, or open it with the sqlite backend"
                .into(),
        });
    }
    if read < REDB_MAGIC.len() || &head[..REDB_MAGIC.len()] != REDB_MAGIC {
        return Err(corrupt(path, "not a redb database (no redb header)"));
    }
    probe(path)
}

/// Looks at an existing redb file's tables through a read-only open, which
/// never writes (a writable open marks the file in use, changing its bytes,
/// before anything could refuse it). A file that needs recovery cannot be
/// opened read-only; it is left to the writable open, which repairs it and
/// checks the tables after.
fn probe(path: &Path) -> Result<()> {
    let db = match Database::builder().open_read_only(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(Error::InUse { path: path.into(), source: None });
        }
        Err(_) => return Ok(()),
    };
    let tables = list_tables(&db, path)?;
    check_tables(&tables, path)
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

/// Creates the tables of a new file, or checks an existing one is ours and
/// not newer than this code.
pub(crate) fn prepare(db: &Database, path: &Path) -> Result<()> {
    let err = |op: &'static str| move |e: redb::Error| map_err(path, op, e);
    let tables = list_tables(db, path)?;
    if tables.is_empty() {
        let txn = db.begin_write().map_err(|e| err("creating the schema")(e.into()))?;
        {
            txn.open_table(ROWS).map_err(|e| err("creating the schema")(e.into()))?;
            let mut meta =
                txn.open_table(META).map_err(|e| err("creating the schema")(e.into()))?;
            meta.insert("format", SCHEMA_VERSION)
                .map_err(|e| err("creating the schema")(e.into()))?;
        }
        return txn.commit().map_err(|e| err("creating the schema")(e.into()));
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
                 {SCHEMA_VERSION}). Upgrade cachestore-redb, or use another path"
            ),
        });
    }
    Ok(())
}
