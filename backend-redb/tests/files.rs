//! What the redb store does with the files it creates and the files it is
//! given: modes, foreign and damaged files, newer formats, links.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cachestore_core::{Bytes, CacheStore, Error, SetOptions};
use cachestore_redb::RedbStore;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

async fn store_with_rows(path: &Path, rows: usize) {
    let store = RedbStore::open(path).expect("open");
    for i in 0..rows {
        let payload = Bytes::from(vec![i as u8; 3000]);
        store.set("ns", &format!("k{i}"), payload, SetOptions::new()).await.expect("set");
    }
}

#[tokio::test]
async fn files_are_private_and_directories_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a/b/cache.redb");
    store_with_rows(&path, 1).await;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
}

#[tokio::test]
async fn a_text_file_and_a_sqlite_database_are_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    fs::write(&text, "dear diary\n").expect("write");
    for recreate in [false, true] {
        let err = RedbStore::builder(&text).recreate_if_corrupt(recreate).open().expect_err("text");
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert!(err.to_string().contains("a text file"), "{err}");
        assert_eq!(fs::read(&text).expect("read"), b"dear diary\n");
    }

    let sqlite = dir.path().join("other.db");
    sqlite_header_file(&sqlite);
    let before = fs::read(&sqlite).expect("read");
    for recreate in [false, true] {
        let err =
            RedbStore::builder(&sqlite).recreate_if_corrupt(recreate).open().expect_err("sqlite");
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert!(err.to_string().contains("SQLite"), "{err}");
        assert!(fs::read(&sqlite).expect("read") == before, "a refused SQLite file changed");
    }
}

/// A minimal valid SQLite header, as a SQLite database file starts.
fn sqlite_header_file(path: &Path) {
    let mut page = vec![0u8; 4096];
    page[..16].copy_from_slice(b"SQLite format 3\0");
    page[16..18].copy_from_slice(&4096u16.to_be_bytes());
    fs::write(path, page).expect("write");
}

#[tokio::test]
async fn random_bytes_are_corrupt_and_recreate_moves_them_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    let junk: Vec<u8> =
        (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(&path, &junk).expect("write");
    let err = RedbStore::open(&path).expect_err("junk");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(fs::read(&path).expect("read") == junk, "a refused file changed");
    let store = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect("recreated");
    let moved = store.recovered_from().expect("recovered_from").to_owned();
    assert!(fs::read(moved).expect("moved") == junk, "the moved file differs");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("writable");
}

#[tokio::test]
async fn another_programs_redb_file_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.redb");
    another_programs_table(&redb::Database::create(&path).expect("redb"));
    let before = fs::read(&path).expect("read");
    let err = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect_err("foreign");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert!(err.to_string().contains("another program"), "{err}");
    assert!(fs::read(&path).expect("read") == before, "a refused redb file changed");
}

#[tokio::test]
async fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    store_with_rows(&path, 1).await;
    {
        let db = redb::Database::create(&path).expect("redb");
        let txn = db.begin_write().expect("txn");
        {
            let meta: redb::TableDefinition<&str, u64> =
                redb::TableDefinition::new("cachestore_meta");
            txn.open_table(meta).expect("meta").insert("format", 99).expect("bump");
        }
        txn.commit().expect("commit");
    }
    let err = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect_err("newer");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// The shared check: a flipped payload byte is `Error::Corrupt`, never
/// wrong bytes (`cachestore_test_harness::corruption::flipped_payload_byte`).
#[test]
fn a_damaged_row_is_corrupt_not_wrong_bytes() {
    cachestore_test_harness::corruption::flipped_payload_byte(&support::BACKEND)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_symlinked_path_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real.redb");
    store_with_rows(&real, 1).await;
    let link = dir.path().join("link.redb");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = RedbStore::open(&link).expect_err("symlink");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn integrity_check_passes_on_a_sound_file_and_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    store_with_rows(&path, 20).await;
    let store = RedbStore::builder(&path).check_integrity_on_open(true).open().expect("open");
    store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn buffered_durability_writes_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    {
        let store = RedbStore::builder(&path)
            .durability(cachestore_redb::Durability::Buffered)
            .open()
            .expect("open");
        store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
        store.flush().await.expect("flush");
    }
    let store = RedbStore::open(&path).expect("reopen");
    assert!(store.get("ns", "k").await.expect("get").is_some(), "a flushed row was lost");
}

#[test]
fn builder_refuses_a_payload_limit_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = RedbStore::builder(dir.path().join("c")).max_payload(1024).open().expect_err("tiny");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

/// A copy of `path` taken while a raw redb handle has it open: redb must
/// repair it at the next open (what a crash leaves).
fn needs_repair_copy(path: &Path, to: &Path, change: impl FnOnce(&redb::Database)) {
    let db = redb::Database::open(path).expect("raw open");
    change(&db);
    fs::copy(path, to).expect("copy while open");
    drop(db);
}

/// A table another program would keep in its redb file.
fn another_programs_table(db: &redb::Database) {
    let txn = db.begin_write().expect("txn");
    {
        let def: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("accounts");
        txn.open_table(def).expect("table").insert("alice", 10).expect("insert");
    }
    txn.commit().expect("commit");
}

fn set_format(db: &redb::Database, format: u64) {
    let txn = db.begin_write().expect("txn");
    {
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("cachestore_meta");
        txn.open_table(meta).expect("meta").insert("format", format).expect("set");
    }
    txn.commit().expect("commit");
}

#[tokio::test]
async fn a_key_damaged_into_another_is_corrupt_not_the_other_keys_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    {
        let store = RedbStore::open(&path).expect("open");
        // Payloads and headers that do not contain the keys: only the
        // stored key is damaged below.
        for (key, word) in [("key-1", "one"), ("key-3", "three"), ("key-5", "five")] {
            let payload = Bytes::from(format!("payload {word}"));
            store.set("ns", key, payload, SetOptions::new().header("k", word)).await.expect("set");
        }
        store.flush().await.expect("flush");
    }
    // Turn every stored "key-3" into "key-2": the row now sits under key-2.
    let mut bytes = fs::read(&path).expect("read");
    let mut damaged = 0;
    for at in 0..bytes.len() - 5 {
        if &bytes[at..at + 5] == b"key-3" {
            bytes[at + 4] = b'2';
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the key is not in the file");
    fs::write(&path, &bytes).expect("write");
    let store = RedbStore::open(&path).expect("open");
    match store.get("ns", "key-2").await {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("key-3's row served under key-2: {other:?}"),
    }
    assert!(matches!(store.integrity_check().await, Err(Error::Corrupt { .. })));
    let fine = store.get("ns", "key-1").await.expect("an intact row").expect("present");
    assert_eq!(&fine.payload[..], b"payload one");
}

#[tokio::test]
async fn another_programs_file_that_needs_repair_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("other.redb");
    let path = dir.path().join("crashed.redb");
    redb::Database::create(&original).expect("redb");
    needs_repair_copy(&original, &path, another_programs_table);
    let before = fs::read(&path).expect("read");
    let err = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect_err("foreign");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert!(fs::read(&path).expect("read") == before, "the refused file was repaired");
    assert!(!dir.path().join("crashed.redb-wal").exists(), "a log was left beside it");
}

#[tokio::test]
async fn a_newer_format_that_needs_repair_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("cache.redb");
    let path = dir.path().join("crashed.redb");
    store_with_rows(&original, 3).await;
    needs_repair_copy(&original, &path, |db| set_format(db, 99));
    let before = fs::read(&path).expect("read");
    let err = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect_err("newer");
    assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(fs::read(&path).expect("read") == before, "the refused file was changed");
}

#[test]
fn a_foreign_file_where_the_log_goes_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    let log = dir.path().join("cache.redb-wal");
    fs::write(&log, b"someone else's journal, not ours at all").expect("write");
    for recreate in [false, true] {
        let err = RedbStore::builder(&path).recreate_if_corrupt(recreate).open().expect_err("log");
        assert!(matches!(err, Error::Incompatible { .. }), "{err:?}");
        assert!(!path.exists(), "a database was left beside a foreign log");
        assert_eq!(fs::read(&log).expect("read"), b"someone else's journal, not ours at all");
    }
}

#[tokio::test]
async fn a_file_cut_inside_its_header_is_corrupt_and_recreate_moves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    store_with_rows(&path, 1).await;
    let cut = fs::read(&path).expect("read")[..100].to_vec();
    fs::write(&path, &cut).expect("cut");
    let err = RedbStore::open(&path).expect_err("cut");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let store = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect("recreated");
    assert_eq!(fs::read(store.recovered_from().expect("moved")).expect("moved"), cut);
}

#[tokio::test]
async fn a_damaged_log_header_is_corrupt_and_recreate_moves_the_whole_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    store_with_rows(&path, 2).await;
    let log = dir.path().join("cache.redb-wal");
    let mut bytes = fs::read(&log).expect("read");
    bytes[3] ^= 0x40;
    fs::write(&log, &bytes).expect("write");
    let db = fs::read(&path).expect("read");
    let err = RedbStore::open(&path).expect_err("damaged log header");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(fs::read(&path).expect("read") == db && fs::read(&log).expect("read") == bytes);
    let store = RedbStore::builder(&path).recreate_if_corrupt(true).open().expect("recreated");
    let moved = store.recovered_from().expect("moved").to_owned();
    assert!(fs::read(&moved).expect("moved db") == db);
    let mut moved_log = moved.into_os_string();
    moved_log.push("-wal");
    assert_eq!(fs::read(moved_log).expect("moved log"), bytes);
    assert_eq!(store.stats().await.expect("stats").fresh, 0);
}

#[tokio::test]
async fn an_empty_file_becomes_a_whole_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.redb");
    fs::write(&path, b"").expect("touch");
    let store = RedbStore::open(&path).expect("open");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    drop(store);
    assert_eq!(mode(&path), 0o600);
    let store = RedbStore::open(&path).expect("reopen");
    assert!(store.get("ns", "k").await.expect("get").is_some());
}
