//! The database file: checks before SQLite opens it, connection settings,
//! the schema and its version.
//!
//! A file is ours when SQLite's header carries [`APPLICATION_ID`]. Its schema
//! version is `PRAGMA user_version`; [`SCHEMA_VERSION`] is the one this code
//! writes, and every earlier one is migrated forward at open.
//!
//! Damage to our own header is [`Error::Corrupt`] (which recreate-if-corrupt
//! recovers), not [`Error::Incompatible`] (kept for other programs' files and
//! newer versions, which are never moved): an application id a few bits
//! away from ours, or any other in a file whose schema page creates our
//! rows table, SQLite format fields out of their range, a version 0 with
//! tables, or a version beyond this code's in a file without the
//! `cache_meta` table. Every schema version after 1 must create that table
//! and keep its number there too, so that a newer file is told from a
//! damaged `user_version`.

use std::fs::{self, File};
use std::path::Path;
use std::time::Duration;

use cachestore_core::Error;
use cachestore_core::raw::files::{self, PathState};

pub(crate) use cachestore_core::raw::files::corrupt;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::config::Durability;
use crate::error::map_err;

/// `PRAGMA application_id` of a cachestore SQLite file: "CSTR".
pub const APPLICATION_ID: i32 = 0x4353_5452;

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 3;

/// Version 1: one row per `(namespace, key)`.
///
/// - `namespace` and `key` are BLOBs of UTF-8, so the primary key orders by
///   bytes, which is the scan order;
/// - times are integer milliseconds since the Unix epoch, NULL for "never";
/// - `payload_len` lets stats and purge skip the payload;
/// - `checksum` is the row's CRC-32 (see `row.rs`);
/// - the payload is the last column, so reading the others never walks its
///   overflow pages.
///
/// `cache_rows_expiry` makes purge O(dead rows); `cache_rows_stats` lets
/// stats read a narrow index instead of the table and its payloads.
const SCHEMA_V1: &str = "
CREATE TABLE cache_rows (
    namespace   BLOB    NOT NULL,
    key         BLOB    NOT NULL,
    stored_at   INTEGER NOT NULL,
    expires_at  INTEGER,
    stale_until INTEGER,
    payload_len INTEGER NOT NULL,
    checksum    INTEGER NOT NULL,
    headers     BLOB    NOT NULL,
    payload     BLOB    NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX cache_rows_expiry ON cache_rows (stale_until) WHERE stale_until IS NOT NULL;
CREATE INDEX cache_rows_stats ON cache_rows (namespace, expires_at, stale_until, payload_len);
";

/// Version 2's rows table (contract v2): every row carries its `version`
/// (CONTRACT.md §7), before the blobs so that reading it never walks the
/// payload's overflow pages.
macro_rules! rows_v2 {
    () => {
        "
CREATE TABLE cache_rows (
    namespace   BLOB    NOT NULL,
    key         BLOB    NOT NULL,
    stored_at   INTEGER NOT NULL,
    expires_at  INTEGER,
    stale_until INTEGER,
    payload_len INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    checksum    INTEGER NOT NULL,
    headers     BLOB    NOT NULL,
    payload     BLOB    NOT NULL,
    PRIMARY KEY (namespace, key)
);
"
    };
}

/// Version 2's indexes and `cache_meta`: the stats index holds `stored_at`
/// too, so that the oldest and newest rows (§10) come from it; `cache_meta`
/// keeps the schema version (to tell a newer file from a damaged
/// `user_version`) and `last_version`, the counter every write takes its
/// versions from, inside its write transaction.
macro_rules! rest_v2 {
    () => {
        "
CREATE INDEX cache_rows_expiry ON cache_rows (stale_until) WHERE stale_until IS NOT NULL;
CREATE INDEX cache_rows_stats ON cache_rows (namespace, expires_at, stale_until, payload_len, stored_at);
CREATE TABLE cache_meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO cache_meta (name, value) VALUES ('schema_version', 2), ('last_version', 0);
"
    };
}

/// Version 2, on a new file.
const SCHEMA_V2: &str = concat!(rows_v2!(), rest_v2!());

/// Version 2 to 3 (tags, CONTRACT.md §9), in O(1) whatever the file holds:
///
/// - `cache_rows.tags`: the row's tags in core's tags encoding, NULL for
///   none (so an untagged row's record is one NULL longer, and reading it
///   never walks the payload's overflow pages for it);
/// - `cache_tags`: one row per (tag, row), so that invalidating a tag reads
///   the rows that carry it and no other;
/// - two triggers keep `cache_tags` exact in every process: a row that had
///   tags and is deleted or rewritten (its `tags` set again) loses its
///   entries; the writer then adds the new row's. A row without tags costs
///   each trigger one `WHEN` test and nothing else.
const V2_TO_V3: &str = "
ALTER TABLE cache_rows ADD COLUMN tags BLOB;
CREATE TABLE cache_tags (
    tag       BLOB NOT NULL,
    namespace BLOB NOT NULL,
    key       BLOB NOT NULL,
    PRIMARY KEY (tag, namespace, key)
) WITHOUT ROWID;
CREATE INDEX cache_tags_row ON cache_tags (namespace, key);
CREATE TRIGGER cache_rows_untag_deleted AFTER DELETE ON cache_rows WHEN OLD.tags IS NOT NULL
BEGIN
    DELETE FROM cache_tags WHERE namespace = OLD.namespace AND key = OLD.key;
END;
CREATE TRIGGER cache_rows_untag_rewritten AFTER UPDATE OF tags ON cache_rows
    WHEN OLD.tags IS NOT NULL
BEGIN
    DELETE FROM cache_tags WHERE namespace = OLD.namespace AND key = OLD.key;
END;
UPDATE cache_meta SET value = 3 WHERE name = 'schema_version';
";

/// Version 1 to 2, inside the open's one transaction (a crash at any point
/// leaves version 1 whole): the rows move to a table of version 2's layout
/// with version 0 (a row written before versions; its checksum stays valid,
/// see `checksum_versioned`), then the indexes are built.
const V1_TO_V2: &str = concat!(
    "
ALTER TABLE cache_rows RENAME TO cache_rows_v1;
DROP INDEX cache_rows_expiry;
DROP INDEX cache_rows_stats;
",
    rows_v2!(),
    "
INSERT INTO cache_rows (namespace, key, stored_at, expires_at, stale_until, payload_len, version,
    checksum, headers, payload)
  SELECT namespace, key, stored_at, expires_at, stale_until, payload_len, 0, checksum, headers,
    payload FROM cache_rows_v1 ORDER BY namespace, key;
DROP TABLE cache_rows_v1;
",
    rest_v2!(),
);

/// Migrations from version `n` to `n + 1`, in order.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, V1_TO_V2, V2_TO_V3];

/// A new file: version 2's tables, then 3's additions (one layout for new
/// and upgraded files).
const NEW_FILE: &[&str] = &[SCHEMA_V2, V2_TO_V3];

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What [`inspect`] found at the path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileState {
    /// No file, or an empty one: a new store.
    New,
    /// A SQLite file with our application id.
    Ours,
}

/// Looks at the file's first 100 bytes (SQLite's header) without opening it
/// with SQLite, so that a foreign or damaged file is refused before anything
/// could write to it.
pub(crate) fn inspect(path: &Path) -> Result<FileState, Error> {
    check_wal(path)?;
    if files::check_path(path)? == PathState::New {
        return Ok(FileState::New);
    }
    let len =
        fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
    // The first 4 KiB: SQLite's 100-byte header, or enough of another kind
    // of file to say what it is.
    let mut head = vec![0u8; 4096];
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let read = files::read_up_to(&mut file, &mut head)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if (16..100).contains(&read) && &head[..16] == SQLITE_MAGIC {
        // SQLite's magic and less than its header: no program's database,
        // a file cut short (damage; `recreate_if_corrupt` may move it aside).
        return Err(corrupt(path, format!("cut inside SQLite's 100-byte header ({read} bytes)")));
    }
    if read < 100 || &head[..16] != SQLITE_MAGIC {
        // Another kind of file (a redb cache, a text file) is said to be what
        // it is and left alone; only what looks like nothing is damage.
        if let Some(what) = files::identify(&head[..read]) {
            return Err(files::not_ours(path, what, "SQLite"));
        }
        return Err(corrupt(path, "not a SQLite database (no SQLite header)"));
    }
    let header = &head[..100];
    // SQLite's own format fields: write and read versions 1 (rollback) or 2
    // (WAL), schema format 0 (no table yet) to 4. Anything else in a file of
    // ours is damage.
    let schema_format = u32::from_be_bytes([header[44], header[45], header[46], header[47]]);
    let app_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    let ours_damaged =
        is_damaged_id(app_id) || (app_id != APPLICATION_ID && has_our_schema(&mut file, path)?);
    if app_id == APPLICATION_ID || ours_damaged {
        let fields_ok =
            (1..=2).contains(&header[18]) && (1..=2).contains(&header[19]) && schema_format <= 4;
        if !fields_ok || ours_damaged {
            return Err(corrupt(
                path,
                format!(
                    "SQLite's header of this cache is damaged (versions {}/{}, schema format \
                     {schema_format}, application_id {app_id:#x})",
                    header[18], header[19]
                ),
            ));
        }
    }
    if app_id != APPLICATION_ID {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: format!(
                "another program's SQLite database (application_id {app_id:#x}, cachestore's is \
                 {APPLICATION_ID:#x}); it was left untouched. Use another path for the cache"
            ),
        });
    }
    // A file shorter than its header says was truncated. Only checked with
    // no write-ahead log and no rollback journal: a checkpoint cut short by a
    // crash may leave the file short, and so may a transaction of the
    // creation (before the switch to WAL, under a rollback journal) killed
    // while it extended the file; SQLite repairs both, from the log or the
    // journal.
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([header[28], header[29], header[30], header[31]]));
    let valid = header[24..28] == header[92..96];
    if valid
        && !has_companion(path, "-wal")
        && !has_companion(path, "-journal")
        && len < pages * page_size
    {
        return Err(corrupt(
            path,
            format!(
                "truncated: the header says {pages} pages of {page_size} bytes, the file has {len} bytes"
            ),
        ));
    }
    Ok(FileState::Ours)
}

/// Whether the first page of the file (which holds SQLite's schema table)
/// carries the statement that creates our rows table: a file whose header
/// lost our application id, not another program's.
fn has_our_schema(file: &mut File, path: &Path) -> Result<bool, Error> {
    use std::io::{Seek, SeekFrom};
    let mut page = vec![0u8; 65_536];
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let read = files::read_up_to(file, &mut page)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let needle = b"CREATE TABLE cache_rows (";
    Ok(page[..read].windows(needle.len()).any(|w| w == needle))
}

/// An application id a few bits away from ours: our header, damaged. (Any
/// other program's id is that close to "CSTR" by a chance of about 1 in 10⁵.)
fn is_damaged_id(app_id: i32) -> bool {
    app_id != APPLICATION_ID && (app_id ^ APPLICATION_ID).count_ones() <= 4 && app_id != 0
}

/// The first 8 bytes of a SQLite write-ahead log: its magic (either byte
/// order of its checksums) and format version 3007000.
const WAL_HEADS: [[u8; 8]; 2] = [
    [0x37, 0x7f, 0x06, 0x82, 0x00, 0x2d, 0xe2, 0x18],
    [0x37, 0x7f, 0x06, 0x83, 0x00, 0x2d, 0xe2, 0x18],
];

/// A file at `<path>-wal` that is not a SQLite write-ahead log is another
/// program's: SQLite would overwrite or delete it, so the open is refused
/// ([`Error::Incompatible`]) and it is left untouched. One cut inside its
/// first bytes is ours (a crash as it was created). One whose first bytes
/// are a log's with two or fewer damaged is ours, damaged:
/// [`Error::Corrupt`] (SQLite itself would ignore it and open an older
/// state).
fn check_wal(path: &Path) -> Result<(), Error> {
    let wal = files::sidecar(path, "-wal");
    if files::check_path(&wal)? == PathState::New {
        return Ok(());
    }
    // Enough to tell a redb log (64 bytes); SQLite's magic is the first 8.
    let mut start = [0u8; 64];
    let mut file =
        File::open(&wal).map_err(|e| Error::io(format!("opening {}", wal.display()), e))?;
    let n = files::read_up_to(&mut file, &mut start)
        .map_err(|e| Error::io(format!("reading {}", wal.display()), e))?;
    let read = n.min(8);
    let mut head = [0u8; 8];
    head.copy_from_slice(&start[..8]);
    let differing = |valid: &[u8; 8]| head.iter().zip(valid).filter(|(a, b)| a != b).count();
    let closest = WAL_HEADS.iter().map(differing).min().unwrap_or(8);
    if read == head.len() && closest == 0 {
        return Ok(());
    }
    // Cut inside its first bytes (a crash as SQLite created it): ours, and
    // SQLite ignores a log that short.
    if read < head.len() && WAL_HEADS.iter().any(|valid| head[..read] == valid[..read]) {
        return Ok(());
    }
    if read == head.len() && closest <= 2 {
        return Err(corrupt(&wal, "the write-ahead log's header is damaged"));
    }
    // The log of a redb cache: the path is a redb cache, opened by mistake.
    if let Some(what) = files::identify(&start[..n]).filter(|w| w.contains("redb")) {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: format!(
                "beside it is {what}: this is a redb cache, not a SQLite one; it was left \
                 untouched. Open it as redb://{}",
                path.display()
            ),
        });
    }
    Err(Error::Incompatible {
        path: wal,
        detail: "not a SQLite write-ahead log, yet named like the log of this database; it was \
                 left untouched (SQLite would overwrite it). Move it away, or use another path"
            .into(),
    })
}

/// Whether a non-empty `path` + `suffix` is beside the file: a write-ahead
/// log (`-wal`) or a rollback journal (`-journal`) SQLite may play back.
fn has_companion(path: &Path, suffix: &str) -> bool {
    fs::metadata(files::sidecar(path, suffix)).is_ok_and(|m| m.len() > 0)
}

/// Opens a connection with the settings every connection of a store shares.
pub(crate) fn connect(
    path: &Path,
    busy_timeout: Duration,
    read_only: bool,
) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| map_err(path, "opening", e))?;
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(busy_timeout)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        if read_only {
            conn.pragma_update(None, "query_only", "ON")?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        Ok(())
    };
    setup().map_err(|e| map_err(path, "configuring a connection", e))?;
    Ok(conn)
}

/// Switches the file to WAL mode, waiting out contention within
/// `busy_timeout`. The switch upgrades a read transaction to a write one
/// inside SQLite, and that upgrade returns `SQLITE_BUSY` at once, without
/// calling the busy handler, when another connection holds the write lock
/// at that moment (seen about once in 50 racing first opens): so a busy
/// answer is retried here, with a short growing pause, until the timeout.
fn set_wal_mode(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < busy_timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Brings the file to [`SCHEMA_VERSION`] (creating it when new) and sets the
/// journal mode and durability. Runs on the writer connection.
pub(crate) fn prepare(
    conn: &mut Connection,
    path: &Path,
    durability: Durability,
    busy_timeout: Duration,
) -> Result<(), Error> {
    let err = |op: &'static str| move |e| map_err(path, op, e);
    // One IMMEDIATE transaction: two processes creating the same new file
    // serialise here, and the second sees the first's schema.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err("starting the schema transaction"))?;
    let app_id: i32 = tx
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(err("reading application_id"))?;
    let version: i32 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err("reading user_version"))?;
    let tables: i64 = tx
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(err("reading the schema"))?;
    if app_id == 0 && version == 0 && tables == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(err("initialising"))?;
    } else if app_id != APPLICATION_ID {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: format!("another program's SQLite database (application_id {app_id:#x})"),
        });
    }
    if version == 0 && tables > 0 {
        return Err(corrupt(path, "schema version 0 in a file with tables: the header is damaged"));
    }
    let has_meta: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'cache_meta'",
            [],
            |r| r.get(0),
        )
        .map_err(err("reading the schema"))?;
    if version >= 2 && !has_meta {
        return Err(corrupt(
            path,
            format!(
                "schema version {version} in a file with version 1's tables only (every later \
                 version has cache_meta): the header is damaged"
            ),
        ));
    }
    if has_meta {
        // Every version from 2 keeps its number in cache_meta too: a
        // user_version that disagrees is a damaged header, not a newer file.
        let kept: Option<i64> = tx
            .query_row("SELECT value FROM cache_meta WHERE name = 'schema_version'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err("reading cache_meta"))?;
        if kept != Some(i64::from(version)) {
            return Err(corrupt(
                path,
                format!(
                    "the header says schema version {version}, cache_meta says {}: the header is damaged",
                    kept.map_or_else(|| "nothing".to_owned(), |k| k.to_string())
                ),
            ));
        }
    }
    if version > SCHEMA_VERSION {
        return Err(Error::Incompatible {
            path: path.into(),
            detail: format!(
                "written by a newer cachestore (schema version {version}; this one reads up to \
                 {SCHEMA_VERSION}). Upgrade cachestore-sqlite, or use another path"
            ),
        });
    }
    let start = usize::try_from(version)
        .map_err(|_| corrupt(path, format!("negative schema version {version}")))?;
    if start == 0 {
        for sql in NEW_FILE {
            tx.execute_batch(sql).map_err(err("creating the schema"))?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err("creating the schema"))?;
    } else {
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            tx.execute_batch(sql).map_err(err("migrating the schema"))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(err("migrating the schema"))?;
        }
    }
    tx.commit().map_err(err("committing the schema"))?;
    let mode = set_wal_mode(conn, busy_timeout).map_err(err("setting WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Config {
            message: format!(
                "{} cannot use WAL mode (got {mode}); it must be on a local file system",
                path.display()
            ),
        });
    }
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync).map_err(err("setting synchronous"))?;
    // Bound the log: checkpoint every 1000 pages (SQLite's default) and cut
    // the file back to 16 MiB after each checkpoint.
    conn.pragma_update(None, "wal_autocheckpoint", 1000)
        .map_err(err("setting wal_autocheckpoint"))?;
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)
        .map_err(err("setting journal_size_limit"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite itself refuses a link at the path (a link put there after
    /// the store's own check); the file it links to opens read-write by its
    /// own name.
    #[test]
    fn a_connection_never_follows_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.sqlite");
        File::create(&real).expect("an empty file");
        let conn = connect(&real, Duration::from_secs(1), false).expect("the file");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").expect("writable");
        drop(conn);
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let through_link = connect(&link, Duration::from_secs(1), false).and_then(|c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .map_err(|e| map_err(&link, "reading", e))
        });
        assert!(through_link.is_err(), "a link was followed: {through_link:?}");
    }

    /// A file that changed between the look at its header and the open
    /// (another program made it a database of its own meanwhile: no tables
    /// yet, but its version set, or its id) is refused, never claimed.
    #[test]
    fn prepare_never_claims_another_programs_new_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, setup) in
            ["PRAGMA user_version = 5", "PRAGMA application_id = 7"].iter().enumerate()
        {
            let path = dir.path().join(format!("other{i}.db"));
            rusqlite::Connection::open(&path).and_then(|c| c.execute_batch(setup)).expect(setup);
            let mut conn = connect(&path, Duration::from_secs(1), false).expect("connect");
            let err = prepare(&mut conn, &path, Durability::Normal, Duration::from_secs(1))
                .expect_err("another program's");
            assert!(matches!(err, Error::Incompatible { .. }), "{setup}: {err:?}");
            let id: i32 = conn
                .pragma_query_value(None, "application_id", |r| r.get(0))
                .expect("application_id");
            assert_ne!(id, APPLICATION_ID, "{setup}: the file was claimed");
        }
    }
}
