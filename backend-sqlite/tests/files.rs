//! What the SQLite store does with the files it creates and the files it is
//! given: modes, foreign and damaged files, newer versions, links.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, Error, ManualClock, SetOptions};
use cachestore_sqlite::{APPLICATION_ID, SqliteStore};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
        & 0o777
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// The file's bytes, to show a refused file was not touched.
fn snapshot(path: &Path) -> Vec<u8> {
    fs::read(path).expect("read file")
}

async fn store_with_rows(path: &Path, rows: usize) {
    let store = SqliteStore::open(path).expect("open");
    for i in 0..rows {
        store
            .set("ns", &format!("k{i}"), Bytes::from(vec![i as u8; 3000]), SetOptions::new())
            .await
            .expect("set");
    }
    store.checkpoint().expect("checkpoint");
}

#[tokio::test]
async fn files_are_private_under_umask_022() {
    // umask is process-wide; 022 is the common default, so other tests in
    // this binary are unaffected.
    let old = set_umask(0o022);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a/b/cache.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    assert!(store.get("ns", "k").await.expect("get").is_some());
    for file in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
        assert_eq!(mode(&file), 0o600, "{} is not 0600", file.display());
    }
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    set_umask(old);
}

/// Sets the process umask, returning the old one.
#[allow(unsafe_code)]
fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) only swaps the process's file-mode mask; it has no
    // memory effects and cannot fail.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    old as u32
}

#[tokio::test]
async fn another_programs_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .expect("write");
    }
    let before = snapshot(&path);
    for recreate in [false, true] {
        let err =
            SqliteStore::builder(&path).recreate_if_corrupt(recreate).open().expect_err("foreign");
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert!(err.to_string().contains("another program"), "{err}");
        assert_eq!(snapshot(&path), before, "a refused file changed");
    }
    assert!(!sidecar(&path, "-wal").exists(), "a refused file got a -wal");
}

#[tokio::test]
async fn random_bytes_are_corrupt_and_recreate_moves_them_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let junk: Vec<u8> =
        (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(&path, &junk).expect("write");
    let err = SqliteStore::open(&path).expect_err("random bytes");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(snapshot(&path), junk);
    let clock = ManualClock::new();
    let store = SqliteStore::builder(&path)
        .clock(clock)
        .recreate_if_corrupt(true)
        .open()
        .expect("recreated");
    let moved = store.recovered_from().expect("recovered_from is set").to_owned();
    assert_eq!(fs::read(&moved).expect("moved file"), junk, "the damaged file was not kept");
    assert!(store.stats().await.expect("stats").fresh == 0);
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
}

#[tokio::test]
async fn a_file_cut_inside_its_header_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny");
    fs::write(&path, b"SQLite").expect("write");
    let err = SqliteStore::open(&path).expect_err("tiny");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(snapshot(&path), b"SQLite");
    // A cache of ours cut inside or at the end of SQLite's 100-byte header,
    // or inside its first page: damage, never another program's file; cut
    // after the header, it says it was truncated.
    let ours = dir.path().join("cache.sqlite");
    store_with_rows(&ours, 2).await;
    let full = snapshot(&ours);
    for cut in [16, 50, 99, 100, 101, 4000] {
        fs::write(&path, &full[..cut]).expect("cut");
        let err = SqliteStore::open(&path).expect_err("cut");
        assert!(matches!(err, Error::Corrupt { .. }), "cut at {cut}: {err:?}");
        if cut >= 100 {
            assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
        }
        assert_eq!(snapshot(&path), &full[..cut], "cut at {cut}: the file changed");
    }
}

/// A healthy file of another kind (a redb cache, a text file) is said to be
/// what it is, and is never moved aside, even with `recreate_if_corrupt`
/// (which is for damage): recreating a redb cache opened by mistake as
/// `sqlite://` would lose it.
#[tokio::test]
async fn another_kind_of_file_is_named_and_never_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redb = dir.path().join("cache.redb");
    {
        let db = redb::Database::create(&redb).expect("a redb file");
        drop(db);
    }
    let text = dir.path().join("notes.txt");
    fs::write(&text, "hello, this is a text file\n").expect("write");
    for (path, says) in [(&redb, "redb database"), (&text, "text file")] {
        let before = snapshot(path);
        for recreate in [false, true] {
            let err = SqliteStore::builder(path)
                .recreate_if_corrupt(recreate)
                .open()
                .expect_err("not a SQLite file");
            assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!(snapshot(path), before, "{says}: the file changed");
        }
        let names: Vec<_> = fs::read_dir(dir.path()).expect("ls").filter_map(|e| e.ok()).collect();
        assert!(
            names.iter().all(|e| !e.file_name().to_string_lossy().contains(".corrupt-")),
            "{says}: something was moved aside"
        );
    }
}

#[tokio::test]
async fn a_truncated_file_is_corrupt_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 50).await;
    let full = snapshot(&path);
    fs::write(&path, &full[..full.len() / 2]).expect("truncate");
    let err = SqliteStore::open(&path).expect_err("truncated");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(snapshot(&path).len(), full.len() / 2);
}

#[tokio::test]
async fn a_newer_schema_version_is_refused_and_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 1).await;
    {
        // A newer cachestore: its version, in user_version and in the
        // cache_meta table every version after 1 has.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch("UPDATE cache_meta SET value = 99 WHERE name = 'schema_version'")
            .expect("meta");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        conn.pragma_update(None, "journal_mode", "DELETE").expect("leave WAL");
    }
    let before = snapshot(&path);
    let err = SqliteStore::builder(&path).recreate_if_corrupt(true).open().expect_err("newer");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(snapshot(&path), before);
}

#[tokio::test]
async fn our_application_id_is_in_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 1).await;
    let header = snapshot(&path);
    assert_eq!(
        i32::from_be_bytes([header[68], header[69], header[70], header[71]]),
        APPLICATION_ID
    );
}

#[tokio::test]
async fn a_symlinked_path_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real.sqlite");
    store_with_rows(&real, 1).await;
    let link = dir.path().join("link.sqlite");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = SqliteStore::open(&link).expect_err("symlink");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let dangling = dir.path().join("dangling.sqlite");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
    assert!(SqliteStore::open(&dangling).is_err());
    assert!(!dir.path().join("nowhere").exists(), "a dangling link was followed");
}

/// The shared check: a flipped payload byte is `Error::Corrupt`, never
/// wrong bytes (`cachestore_test_harness::corruption::flipped_payload_byte`).
#[test]
fn a_damaged_row_is_corrupt_not_wrong_bytes() {
    cachestore_test_harness::corruption::flipped_payload_byte(&support::BACKEND)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn integrity_check_passes_on_a_sound_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 10).await;
    let store = SqliteStore::builder(&path).check_integrity_on_open(true).open().expect("open");
    store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn builder_refuses_a_payload_limit_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err =
        SqliteStore::builder(dir.path().join("c")).max_payload(1024).open().expect_err("tiny");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(!dir.path().join("c").exists(), "a refused open created the file");
}

#[tokio::test]
async fn a_directory_as_path_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = SqliteStore::open(dir.path()).expect_err("a directory");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
}

#[tokio::test]
async fn busy_timeout_is_configurable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let store =
        SqliteStore::builder(&path).busy_timeout(Duration::from_millis(50)).open().expect("open");
    // Another connection holds the write lock: the store's write waits the
    // timeout out and then reports a typed error, not a panic or a hang.
    let other = rusqlite::Connection::open(&path).expect("sqlite");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let err = store
        .set("ns", "k", Bytes::from_static(b"v"), SetOptions::new())
        .await
        .expect_err("locked");
    assert!(matches!(err, Error::InUse { .. }) && err.is_retriable(), "{err:?}");
    other.execute_batch("COMMIT").expect("unlock");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("after unlock");
}

/// Another connection keeps taking SQLite's RESERVED lock on a new file, in
/// short bursts, while stores are opened on it: the switch to WAL mode at
/// the first open must wait that contention out like any other, not fail
/// with "database is locked" (SQLite upgrades a read to a write transaction
/// there, which does not call the busy handler).
#[test]
fn contention_while_a_new_file_is_set_up_is_waited_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    // The window is a few microseconds wide: about one open in 50 hit it
    // before the fix, so 300 rounds fail before it almost surely.
    for round in 0..300 {
        let path = dir.path().join(format!("new{round}.sqlite"));
        fs::write(&path, b"").expect("create empty");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (ready, started) = std::sync::mpsc::channel();
        let holder = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                // Another process of ours, a step ahead: the file is marked
                // as a cachestore file, still in rollback mode.
                let conn = rusqlite::Connection::open(&path).expect("holder connection");
                conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
                conn.pragma_update(None, "application_id", APPLICATION_ID).expect("mark");
                ready.send(()).expect("signal");
                while !stop.load(Ordering::Relaxed) {
                    conn.execute_batch("BEGIN IMMEDIATE; SELECT count(*) FROM sqlite_schema")
                        .expect("begin");
                    std::thread::sleep(Duration::from_micros(200));
                    conn.execute_batch("COMMIT").expect("commit");
                    std::thread::sleep(Duration::from_micros(50));
                }
            })
        };
        started.recv().expect("the holder started");
        let opened = SqliteStore::open(&path);
        stop.store(true, Ordering::Relaxed);
        holder.join().expect("holder thread");
        if let Err(e) = opened {
            panic!("round {round}: contention at the first open surfaced: {e}");
        }
    }
}

/// Every single-bit flip in SQLite's 100-byte header of one of our files
/// either opens (SQLite does not read that bit) or is `Corrupt`, which
/// recreate-if-corrupt recovers: never `Incompatible` (that is for files
/// that are not ours) nor an untyped `Backend` error.
#[tokio::test]
async fn header_damage_of_our_file_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clean.sqlite");
    store_with_rows(&path, 3).await;
    SqliteStore::open(&path).and_then(|s| s.checkpoint()).expect("checkpoint");
    let clean = snapshot(&path);
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for bit in 0..100 * 8 {
        let damaged = dir.path().join(format!("b{bit}.sqlite"));
        let mut bytes = clean.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(&damaged, &bytes).expect("write");
        let outcome = match SqliteStore::open(&damaged) {
            Ok(store) => match store.stats().await {
                Ok(_) => "opened".to_owned(),
                Err(Error::Corrupt { .. }) => "corrupt on read".to_owned(),
                Err(e) => format!("byte {} read: {e}", bit / 8),
            },
            Err(Error::Corrupt { .. }) => "corrupt".to_owned(),
            Err(e) => format!("byte {}: {e}", bit / 8),
        };
        *outcomes.entry(outcome).or_default() += 1;
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(sidecar(&damaged, suffix));
        }
    }
    println!("800 header bit flips: {outcomes:?}");
    let typed = ["opened", "corrupt", "corrupt on read"];
    let wrong: Vec<_> = outcomes.keys().filter(|o| !typed.contains(&o.as_str())).collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(outcomes.contains_key("corrupt"), "{outcomes:?}");
}

#[tokio::test]
async fn a_foreign_file_where_the_log_goes_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    for existing in [false, true] {
        let path = dir.path().join(format!("cache-{existing}.sqlite"));
        if existing {
            store_with_rows(&path, 2).await;
        }
        let wal = sidecar(&path, "-wal");
        let foreign = b"a journal of another program, it says nothing of SQLite".to_vec();
        fs::write(&wal, &foreign).expect("write");
        let db_before = fs::read(&path).ok();
        for recreate in [false, true] {
            let err =
                SqliteStore::builder(&path).recreate_if_corrupt(recreate).open().expect_err("log");
            assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
            assert_eq!(fs::read(&wal).expect("the foreign file is still there"), foreign);
            assert_eq!(fs::read(&path).ok(), db_before, "the database changed");
        }
    }
}

#[tokio::test]
async fn a_log_cut_inside_its_first_bytes_is_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 2).await;
    for cut in [1usize, 4, 7] {
        fs::write(sidecar(&path, "-wal"), &[0x37, 0x7f, 0x06, 0x82, 0x00, 0x2d, 0xe2][..cut])
            .expect("write");
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(store.stats().await.expect("stats").fresh, 2, "cut at {cut}");
    }
}

#[tokio::test]
async fn a_damaged_log_header_of_ours_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    // A crash image: the log still holds the rows.
    let store = SqliteStore::open(&path).expect("open");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    let image = dir.path().join("image.sqlite");
    fs::copy(&path, &image).expect("copy");
    fs::copy(sidecar(&path, "-wal"), sidecar(&image, "-wal")).expect("copy log");
    drop(store);
    let mut log = fs::read(sidecar(&image, "-wal")).expect("log");
    log[1] ^= 0x10;
    fs::write(sidecar(&image, "-wal"), &log).expect("damage");
    let err = SqliteStore::open(&image).expect_err("damaged log header");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let store = SqliteStore::builder(&image).recreate_if_corrupt(true).open().expect("recreate");
    let moved = store.recovered_from().expect("moved").to_owned();
    assert_eq!(fs::read(sidecar(&moved, "-wal")).expect("moved log"), log);
}

#[test]
fn a_busy_timeout_beyond_sqlites_limit_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let days_30 = Duration::from_secs(30 * 86_400);
    let err = SqliteStore::builder(&path).busy_timeout(days_30).open().expect_err("too long");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let limit = Duration::from_millis(i32::MAX as u64);
    SqliteStore::builder(&path).busy_timeout(limit).open().expect("the limit itself opens");
}

/// Random bytes over the application id of one of our files: the schema
/// page still says it is ours, so it is damage (`Corrupt`), not another
/// program's file.
#[tokio::test]
async fn a_garbled_application_id_in_our_file_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 3).await;
    SqliteStore::open(&path).and_then(|s| s.checkpoint()).expect("checkpoint");
    let mut bytes = snapshot(&path);
    bytes[68..72].copy_from_slice(&[0xdf, 0x76, 0xf6, 0xe7]);
    fs::write(&path, &bytes).expect("write");
    let err = SqliteStore::open(&path).expect_err("garbled id");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

/// The store's `Debug` names the file it holds.
#[test]
fn debug_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("named.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let shown = format!("{store:?}");
    assert!(shown.starts_with("SqliteStore"), "{shown}");
    assert!(shown.contains("named.sqlite"), "{shown}");
}

/// `checkpoint` moves the log into the database file and empties it: a
/// copy of the file alone holds every row.
#[tokio::test]
async fn checkpoint_empties_the_log_into_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logged.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    store.set("ns", "k", Bytes::from_static(b"in the log"), SetOptions::new()).await.expect("set");
    let wal = sidecar(&path, "-wal");
    assert!(fs::metadata(&wal).expect("log").len() > 0, "the write is not in the log");
    store.checkpoint().expect("checkpoint");
    assert_eq!(fs::metadata(&wal).expect("log").len(), 0, "the log was not truncated");
    let copy = dir.path().join("copy.sqlite");
    fs::copy(&path, &copy).expect("copy the file alone");
    let copied = SqliteStore::open(&copy).expect("open the copy");
    let entry = copied.get("ns", "k").await.expect("get").expect("the row is in the file");
    assert_eq!(entry.payload, Bytes::from_static(b"in the log"));
}

/// `check_integrity_on_open` finds damage that opening alone does not read
/// (a zeroed page among the rows): the open is then `Corrupt`, or with
/// `recreate_if_corrupt` an empty store with the damaged file kept aside.
#[tokio::test]
async fn the_integrity_check_at_open_finds_a_damaged_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 200).await;
    let mut bytes = snapshot(&path);
    let page = 4096;
    assert!(bytes.len() > 100 * page, "{} bytes", bytes.len());
    let at = (bytes.len() / page / 2) * page;
    bytes[at..at + page].fill(0);
    fs::write(&path, &bytes).expect("damage");
    drop(SqliteStore::open(&path).expect("the damaged page is not read at open"));
    let err = SqliteStore::builder(&path).check_integrity_on_open(true).open().expect_err("damage");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let store = SqliteStore::builder(&path)
        .check_integrity_on_open(true)
        .recreate_if_corrupt(true)
        .open()
        .expect("recreated");
    assert!(store.get("ns", "k1").await.expect("get").is_none(), "not a new store");
    let aside = fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert!(aside >= 1, "the damaged file was not kept aside");
}

/// The size bound's floor is 1024 bytes: 1023 is refused, 1024 opens.
#[test]
fn the_smallest_size_bound_is_1024_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    for bytes in [0, 1, 1023] {
        let err = SqliteStore::builder(&path).max_bytes(bytes).open().expect_err("too small");
        assert!(matches!(&err, Error::Config { message } if message.contains("1024")), "{err:?}");
    }
    let store = SqliteStore::builder(&path).max_bytes(1024).open().expect("the floor opens");
    assert_eq!(store.capabilities().max_bytes, Some(1024));
}

/// A directory where the shared-memory file goes: SQLite cannot use the
/// file, and the open is an I/O error naming the file, not a backend error.
#[tokio::test]
async fn an_unusable_shared_memory_file_is_an_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 2).await;
    fs::create_dir(sidecar(&path, "-shm")).expect("dir");
    let err = SqliteStore::open(&path).expect_err("no shared memory");
    match &err {
        Error::Io { context, .. } => assert!(context.contains("cache.sqlite"), "{err:?}"),
        other => panic!("not an I/O error: {other:?}"),
    }
}

/// Our file with its application id a bit off *and* its schema text on the
/// first page damaged is still ours, damaged (`Corrupt`); another program's
/// file whose id is far from ours is `Incompatible`.
#[tokio::test]
async fn an_application_id_a_few_bits_off_ours_is_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 2).await;
    let mut bytes = snapshot(&path);
    let needle = b"CREATE TABLE cache_rows (";
    // Every copy of it (SQLite may keep an old one in freed cell space).
    let copies: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect();
    assert!(!copies.is_empty(), "no schema text");
    for at in copies {
        bytes[at + 13..at + 23].copy_from_slice(b"cache_rowz");
    }
    for flipped in [1u32, 1 << 9, 0b1011 << 20] {
        let id = APPLICATION_ID ^ flipped as i32;
        bytes[68..72].copy_from_slice(&id.to_be_bytes());
        fs::write(&path, &bytes).expect("damage");
        let err = SqliteStore::open(&path).expect_err("damaged");
        assert!(matches!(err, Error::Corrupt { .. }), "id {id:#x}: {err:?}");
    }
    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).expect("sqlite");
        let far = APPLICATION_ID ^ 0x00ff_00ff;
        conn.execute_batch(&format!("PRAGMA application_id = {far}; CREATE TABLE notes (b TEXT);"))
            .expect("write");
    }
    let err = SqliteStore::open(&other).expect_err("foreign");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
}

/// A few bytes where the log goes that do not begin a SQLite log are
/// another program's file, refused and untouched (a short file is ours only
/// if its bytes begin a log).
#[tokio::test]
async fn a_short_foreign_file_where_the_log_goes_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 2).await;
    let wal = sidecar(&path, "-wal");
    fs::write(&wal, b"hello").expect("write");
    let err = SqliteStore::open(&path).expect_err("foreign log");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert_eq!(fs::read(&wal).expect("still there"), b"hello");
}

/// A file shorter than its header says, with a write-ahead log beside it
/// that holds the missing pages (a checkpoint cut short by a crash), is
/// repaired by SQLite and opens with every row; with an empty log beside
/// it, it is truncated (`Corrupt`).
#[tokio::test]
async fn a_short_file_with_its_log_beside_it_opens_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    // Few enough writes that the log is not checkpointed and restarted
    // meanwhile (at 1,000 pages): it holds every page they wrote.
    let rows = 100;
    let store = SqliteStore::open(&path).expect("open");
    for i in 0..rows {
        let payload = Bytes::from(vec![i as u8; 3000]);
        store.set("ns", &format!("k{i}"), payload, SetOptions::new()).await.expect("set");
    }
    // Every page goes to the file; the log keeps its frames (a passive
    // checkpoint does not reset it): the image a crash right after leaves.
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    raw.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).expect("checkpoint");
    let image = dir.path().join("image.sqlite");
    let (db, log) = (snapshot(&path), fs::read(sidecar(&path, "-wal")).expect("the log"));
    drop((raw, store));
    assert!(log.len() > db.len() / 2, "the log does not hold the rows' pages");
    fs::write(&image, &db[..db.len() / 2]).expect("cut");
    fs::write(sidecar(&image, "-wal"), &log).expect("log");
    let store = SqliteStore::open(&image).expect("SQLite repairs it from the log");
    for i in [0, rows / 2, rows - 1] {
        let row = store.get("ns", &format!("k{i}")).await.expect("get").expect("row");
        assert_eq!(row.payload.as_ref(), &vec![i as u8; 3000][..], "row {i}");
    }
    drop(store);
    let empty_log = dir.path().join("empty.sqlite");
    fs::write(&empty_log, &db[..db.len() / 2]).expect("cut");
    fs::write(sidecar(&empty_log, "-wal"), b"").expect("empty log");
    let err = SqliteStore::open(&empty_log).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// Our file whose header lost its schema version (zeroed) while its tables
/// are there is damaged, not a new file to set up again.
#[tokio::test]
async fn a_zeroed_schema_version_over_our_tables_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    store_with_rows(&path, 2).await;
    let mut bytes = snapshot(&path);
    bytes[60..64].fill(0);
    fs::write(&path, &bytes).expect("damage");
    let err = SqliteStore::open(&path).expect_err("damaged");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("schema version 0"), "{err}");
    // A version-1 file (the golden one), which keeps its version nowhere else.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite");
    let mut bytes = fs::read(v1).expect("the golden version-1 file");
    bytes[60..64].fill(0);
    let old = dir.path().join("v1.sqlite");
    fs::write(&old, &bytes).expect("damage");
    let err = SqliteStore::open(&old).expect_err("damaged");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("schema version 0"), "{err}");
}

/// The log is cut back to 16 MiB after a checkpoint: one write larger than
/// that leaves a 16 MiB log once the next write starts it over.
#[tokio::test]
async fn the_log_is_cut_back_to_16_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let items: Vec<_> = (0..96)
        .map(|i| {
            let payload = Bytes::from(vec![i as u8; 256 * 1024]);
            cachestore_core::SetItem::new("ns", format!("k{i}"), payload, SetOptions::new())
        })
        .collect();
    store.set_many(items).await.expect("24 MiB in one write");
    let wal = sidecar(&path, "-wal");
    let grown = fs::metadata(&wal).expect("log").len();
    assert!(grown > 24 << 20, "the log holds the write: {grown}");
    store.set("ns", "small", Bytes::from_static(b"x"), SetOptions::new()).await.expect("set");
    let cut = fs::metadata(&wal).expect("log").len();
    assert_eq!(cut, 16 << 20, "the log after it started over: {cut} bytes");
}
