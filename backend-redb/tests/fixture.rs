//! Every released format keeps opening and is upgraded in place:
//!
//! - `tests/fixtures/v1.redb`: format 1 (before the write-ahead log);
//! - `tests/fixtures/v2.redb`: format 2 (the log; values whose checksum
//!   does not cover their identity), closed cleanly;
//! - `tests/fixtures/v2-crash.redb` and its `-wal`: format 2 as a `kill -9`
//!   leaves it, the rows still only in the log;
//! - `tests/fixtures/v3.redb`: format 3 (values whose checksum covers their
//!   identity, headers encoded by bincode), flushed and closed;
//! - `tests/fixtures/v4.redb`: format 4 (headers in core's encoding, no row
//!   versions), flushed and closed, its log left out;
//! - `tests/fixtures/v5.redb`: format 5 (row versions, no tags), written by
//!   commit 8d4e56b, flushed and closed, its log left out.
//!
//! Each is opened, checked row by row, and found upgraded to the current
//! format. The files were written by the code of their format, never to make
//! a test pass: format 1 with `CACHESTORE_WRITE_FIXTURE=1` at that format,
//! formats 2 and 3 by `fixture::write` on a store of that format (the crash
//! image copied while the store was open; format 3 flushed, its log left
//! out).

use std::path::{Path, PathBuf};

use cachestore_conformance::ManualClock;
use cachestore_redb::{RedbStore, SCHEMA_VERSION, WAL_SUFFIX};
use cachestore_test_harness::fixture;

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn wal(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(WAL_SUFFIX);
    PathBuf::from(s)
}

fn format_of(path: &Path) -> Option<u64> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("cachestore_meta");
    let meta = txn.open_table(meta).expect("meta");
    assert!(meta.get("log_epoch").expect("get").is_some_and(|v| v.value() != 0));
    meta.get("format").expect("get").map(|v| v.value())
}

/// Opens a copy of the fixture `name` (and its log, if it has one), checks
/// every row, and that the file was upgraded.
async fn opens_upgraded(name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join(name);
    std::fs::copy(fixture_path(name), &copy).expect("the fixture exists");
    if wal(&fixture_path(name)).exists() {
        std::fs::copy(wal(&fixture_path(name)), wal(&copy)).expect("copy the log");
    }
    let clock = ManualClock::new();
    let store = RedbStore::builder(&copy).clock(clock.clone()).open().expect("an old file opens");
    store.integrity_check().await.expect("the upgraded file is sound");
    fixture::check(&store).await;
    drop(store);
    assert_eq!(format_of(&copy), Some(SCHEMA_VERSION), "{name} was not upgraded");
    assert!(wal(&copy).exists(), "no write-ahead log beside the upgraded file");
    // And it opens again, as the current format, with the rows (the check
    // above purged the dead one and wrote one).
    let store = RedbStore::builder(&copy).clock(clock).open().expect("reopen");
    store.integrity_check().await.expect("sound after reopening");
    let stats = cachestore_core::CacheStore::stats(&store).await.expect("stats");
    assert_eq!((stats.fresh, stats.stale), (fixture::rows().len() as u64 - 2 + 1, 1));
}

#[tokio::test]
async fn the_format_1_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 2) };
    opens_upgraded("v1.redb").await;
}

#[tokio::test]
async fn the_format_2_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 3) };
    opens_upgraded("v2.redb").await;
}

#[tokio::test]
async fn the_format_3_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 4) };
    opens_upgraded("v3.redb").await;
}

#[tokio::test]
async fn the_format_4_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 5) };
    opens_upgraded("v4.redb").await;
}

#[tokio::test]
async fn a_format_4_file_reads_as_version_0_and_takes_conditional_writes() {
    use cachestore_core::{Bytes, CacheStore, Condition, SetOptions, TouchOptions, Ttl};
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v4.redb");
    std::fs::copy(fixture_path("v4.redb"), &copy).expect("the fixture exists");
    let store = RedbStore::builder(&copy).clock(ManualClock::new()).open().expect("opens");
    let row = store.get("a", "b:c").await.expect("get").expect("a fixture row");
    assert_eq!(row.version, 0, "a row written before versions");
    let written = store
        .set_if("a", "b:c", Bytes::from_static(b"new"), SetOptions::new(), Condition::IfVersion(0))
        .await
        .expect("set_if");
    let version = written.version().expect("IfVersion(0) matches a format-4 row");
    assert!(version > 0);
    let touched = store.touch("a:b", "c", TouchOptions::new(Ttl::Never)).await.expect("touch");
    assert!(touched.is_some_and(|v| v > version), "{touched:?}");
    let row = store.get("a:b", "c").await.expect("get").expect("touched row");
    assert_eq!(&row.payload[..], b"colliding 1", "touch changed the payload");
    drop(store);
    // The versions handed out survive a reopen: the next write is above them.
    let store = RedbStore::builder(&copy).clock(ManualClock::new()).open().expect("reopens");
    store.set("x", "y", Bytes::new(), SetOptions::new()).await.expect("set");
    let next = store.get("x", "y").await.expect("get").expect("row").version;
    assert!(next > touched.unwrap_or(0), "version {next} after a reopen, not above {touched:?}");
}

#[tokio::test]
async fn the_format_5_fixture_opens_with_every_row() {
    const { assert!(SCHEMA_VERSION >= 6) };
    opens_upgraded("v5.redb").await;
}

#[tokio::test]
async fn a_format_5_file_keeps_its_versions_and_takes_tags() {
    use cachestore_core::{Bytes, CacheStore, SetOptions, TouchOptions, Ttl};
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("v5.redb");
    std::fs::copy(fixture_path("v5.redb"), &copy).expect("the fixture exists");
    assert_eq!(format_of(&copy), Some(5), "the fixture is not of format 5");
    let clock = ManualClock::new();
    let store = RedbStore::builder(&copy).clock(clock.clone()).open().expect("opens");
    let row = store.get("a", "b:c").await.expect("get").expect("a fixture row");
    assert!(row.version > 0 && row.tags.is_empty(), "{row:?}");
    // A format-4 value rewritten with tags, a new tagged row, a touch that
    // keeps them; the index finds both, and nothing else.
    let tagged = SetOptions::new().tag("show:x");
    store.set("a", "b:c", Bytes::from_static(b"t"), tagged.clone()).await.expect("tag a row");
    store.set("new", "k", Bytes::new(), tagged.tag("other")).await.expect("tag a new row");
    store.touch("new", "k", TouchOptions::new(Ttl::Never)).await.expect("touch");
    drop(store);
    let store = RedbStore::builder(&copy).clock(clock).open().expect("reopens");
    store.integrity_check().await.expect("sound");
    let row = store.get("new", "k").await.expect("get").expect("row");
    assert_eq!(row.tags.len(), 2, "{row:?}");
    assert_eq!(store.invalidate_tag("show:x").await.expect("invalidate"), 2);
    assert!(store.get("a", "b:c").await.expect("get").is_none());
    assert!(store.get("a:b", "c").await.expect("get").is_some(), "an untagged row went");
    assert_eq!(store.invalidate_tag("other").await.expect("invalidate"), 0, "index left over");
    drop(store);
    assert_eq!(format_of(&copy), Some(SCHEMA_VERSION));
}

#[tokio::test]
async fn a_format_2_crash_image_replays_its_log_then_upgrades() {
    // The rows are in the log only: without the replay the store is empty.
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("bare.redb");
    std::fs::copy(fixture_path("v2-crash.redb"), &bare).expect("copy");
    let store = RedbStore::open(&bare).expect("open without its log");
    assert_eq!(cachestore_core::CacheStore::stats(&store).await.expect("stats").fresh, 0);
    drop(store);
    opens_upgraded("v2-crash.redb").await;
}
