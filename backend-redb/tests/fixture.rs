//! Every released format keeps opening: a golden file written at format 1
//! (`tests/fixtures/v1.redb`) is opened and checked row by row.
//!
//! Regenerate (only when adding a fixture for a new format, never to make a
//! test pass): `CACHESTORE_WRITE_FIXTURE=1 cargo test -p cachestore-redb --test fixture`

use std::path::{Path, PathBuf};

use cachestore_conformance::{ManualClock, fixture};
use cachestore_redb::{RedbStore, SCHEMA_VERSION};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.redb")
}

#[tokio::test]
async fn the_format_1_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 1) };
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
}
