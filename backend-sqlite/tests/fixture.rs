//! Every released schema version keeps opening: a golden file written at
//! schema version 1 (`tests/fixtures/v1.sqlite`) is opened and checked row by
//! row. When a version 2 exists, this file is what proves the migration.
//!
//! Regenerate (only when adding a fixture for a new version, never to make a
//! test pass): `CACHESTORE_WRITE_FIXTURE=1 cargo test -p cachestore-sqlite --test fixture`

use std::path::{Path, PathBuf};
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, ManualClock, SetOptions, Ttl};
use cachestore_sqlite::{SCHEMA_VERSION, SqliteStore};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite")
}

/// The rows of the fixture: identity, payload, options.
fn rows() -> Vec<(&'static str, &'static str, Bytes, SetOptions)> {
    vec![
        ("a:b", "c", Bytes::from_static(b"colliding 1"), SetOptions::new()),
        (
            "a",
            "b:c",
            Bytes::from_static(b"colliding 2"),
            SetOptions::new().header("etag", "\"v1\""),
        ),
        ("\0", "\0", Bytes::new(), SetOptions::new().header("", "").header("ключ", "🦀")),
        (
            "movies",
            "fresh",
            Bytes::from(vec![7u8; 3000]),
            SetOptions::new()
                .ttl(Ttl::For(Duration::from_secs(3600)))
                .stale_for(Duration::from_secs(86_400)),
        ),
        (
            "movies",
            "stale",
            Bytes::from_static(b"old"),
            SetOptions::new().ttl(Ttl::For(Duration::ZERO)).stale_for(Duration::from_secs(60)),
        ),
        (
            "movies",
            "dead",
            Bytes::from_static(b"gone"),
            SetOptions::new().ttl(Ttl::For(Duration::ZERO)),
        ),
    ]
}

async fn write(path: &Path, clock: &ManualClock) {
    let store = SqliteStore::builder(path).clock(clock.clone()).open().expect("open");
    for (ns, key, payload, options) in rows() {
        store.set(ns, key, payload, options).await.expect("set");
    }
    store.checkpoint().expect("checkpoint");
}

#[tokio::test]
async fn the_version_1_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 1) };
    let clock = ManualClock::new();
    if std::env::var("CACHESTORE_WRITE_FIXTURE").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_file(fixture());
        write(&fixture(), &clock).await;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", fixture().display()));
        }
    }
    // Open a copy: the committed file must never change.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v1.sqlite");
    std::fs::copy(fixture(), &copy)
        .expect("the fixture exists; see this file's header to write it");
    let store = SqliteStore::builder(&copy).clock(clock.clone()).open().expect("a v1 file opens");
    store.integrity_check().await.expect("the fixture is sound");
    // The fixture was written at the clock's default start.
    let written_at = std::time::UNIX_EPOCH + ManualClock::DEFAULT_START;
    for (ns, key, payload, options) in rows() {
        let got = store.get_stale(ns, key).await.expect("read");
        if key == "dead" {
            assert_eq!(got, None, "a dead row is visible");
            continue;
        }
        let row = got.unwrap_or_else(|| panic!("({ns:?}, {key:?}) is missing from the v1 fixture"));
        assert_eq!(row.payload, payload, "({ns:?}, {key:?})");
        assert_eq!(row.headers, options.headers, "({ns:?}, {key:?})");
        assert_eq!(row.stored_at, written_at);
    }
    assert!(store.get("movies", "fresh").await.expect("read").is_some());
    assert!(store.get("movies", "stale").await.expect("read").is_none());
    assert_eq!(store.purge_expired().await.expect("purge"), 1);
    store.set("new", "row", Bytes::from_static(b"v"), SetOptions::new()).await.expect("writable");
}
