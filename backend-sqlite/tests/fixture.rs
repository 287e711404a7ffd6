//! Every released schema version keeps opening: a golden file written at
//! schema version 1 (`tests/fixtures/v1.sqlite`) is opened and checked row by
//! row. When a version 2 exists, this file is what proves the migration.
//!
//! Regenerate (only when adding a fixture for a new version, never to make a
//! test pass): `CACHESTORE_WRITE_FIXTURE=1 cargo test -p cachestore-sqlite --test fixture`

use std::path::{Path, PathBuf};

use cachestore_conformance::ManualClock;
use cachestore_sqlite::{SCHEMA_VERSION, SqliteStore};
use cachestore_test_harness::fixture;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite")
}

#[tokio::test]
async fn the_version_1_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 1) };
    let clock = ManualClock::new();
    if std::env::var("CACHESTORE_WRITE_FIXTURE").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_file(fixture_path());
        let store = SqliteStore::builder(fixture_path()).clock(clock.clone()).open().expect("open");
        fixture::write(&store).await;
        store.checkpoint().expect("checkpoint");
        drop(store);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", fixture_path().display()));
        }
    }
    // Open a copy: the committed file must never change.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v1.sqlite");
    std::fs::copy(fixture_path(), &copy)
        .expect("the fixture exists; see this file's header to write it");
    let store = SqliteStore::builder(&copy).clock(clock).open().expect("a v1 file opens");
    store.integrity_check().await.expect("the fixture is sound");
    fixture::check(&store).await;
}
