//! Every released schema version keeps opening: golden files written at
//! schema version 1 (`tests/fixtures/v1.sqlite`) and 2 (`v2.sqlite`, rows
//! with versions, before tags) are opened, upgraded and checked row by row.
//!
//! Each was written by the code of its version, never to make a test pass:
//! version 1 with `CACHESTORE_WRITE_FIXTURE=1 cargo test -p cachestore-sqlite
//! --test fixture` at that version; version 2 by `fixture::write` on a store
//! of that version (commit 8d4e56b), checkpointed, its `-wal` left out.

use std::path::{Path, PathBuf};

use cachestore_conformance::ManualClock;
use cachestore_core::{Bytes, CacheStore, SetOptions};
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

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("user_version")
}

#[tokio::test]
async fn the_version_2_fixture_upgrades_keeps_its_versions_and_takes_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v2.sqlite");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2.sqlite");
    std::fs::copy(golden, &copy).expect("the fixture exists");
    assert_eq!(user_version(&copy), 2, "the fixture is not at version 2");
    let clock = ManualClock::new();
    let store = SqliteStore::builder(&copy).clock(clock.clone()).open().expect("a v2 file opens");
    store.integrity_check().await.expect("the upgraded file is sound");
    // Rows written at version 2 carry their versions and no tags.
    let row = store.get("a:b", "c").await.expect("read").expect("a fixture row");
    assert!(row.version > 0 && row.tags.is_empty(), "{row:?}");
    fixture::check(&store).await;
    let tagged = SetOptions::new().tag("album:x");
    store.set("a", "b:c", Bytes::from_static(b"t"), tagged.clone()).await.expect("tag a row");
    store.set("new", "tagged", Bytes::new(), tagged).await.expect("tag a new row");
    assert_eq!(store.invalidate_tag("album:x").await.expect("invalidate"), 2);
    assert!(store.get("a", "b:c").await.expect("read").is_none());
    drop(store);
    assert_eq!(user_version(&copy), i64::from(SCHEMA_VERSION), "not upgraded");
    let store = SqliteStore::builder(&copy).clock(clock).open().expect("reopen");
    store.integrity_check().await.expect("sound after reopening");
    assert!(store.get("\0", "\0").await.expect("read").is_some());
}
