//! Every released format keeps opening: a golden file written at format 1
//! (`tests/fixtures/v1.redb`, before the write-ahead log) is opened, checked
//! row by row, and upgraded to the current format.
//!
//! Regenerate (only with code of format 1, never to make a test pass):
//! `CACHESTORE_WRITE_FIXTURE=1 cargo test -p cachestore-redb --test fixture`

use std::path::{Path, PathBuf};

use cachestore_conformance::{ManualClock, fixture};
use cachestore_redb::{RedbStore, SCHEMA_VERSION};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.redb")
}

#[tokio::test]
async fn the_format_1_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 2) };
    let clock = ManualClock::new();
    if std::env::var("CACHESTORE_WRITE_FIXTURE").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_file(fixture_path());
        let store = RedbStore::builder(fixture_path()).clock(clock.clone()).open().expect("open");
        fixture::write(&store).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v1.redb");
    std::fs::copy(fixture_path(), &copy)
        .expect("the fixture exists; see this file's header to write it");
    let store = RedbStore::builder(&copy).clock(clock).open().expect("a format-1 file opens");
    store.integrity_check().await.expect("the fixture is sound");
    fixture::check(&store).await;
    drop(store);
    // Upgraded: the current format, with its log beside it.
    let db = redb::Database::open(&copy).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("cachestore_meta");
    let meta = txn.open_table(meta).expect("meta");
    assert_eq!(meta.get("format").expect("get").map(|v| v.value()), Some(SCHEMA_VERSION));
    assert!(meta.get("log_epoch").expect("get").is_some_and(|v| v.value() != 0));
    let mut wal = copy.into_os_string();
    wal.push(cachestore_redb::WAL_SUFFIX);
    assert!(Path::new(&wal).exists(), "no write-ahead log beside the upgraded file");
}
