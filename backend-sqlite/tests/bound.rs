//! The size bound on SQLite beyond the shared suite (CONTRACT.md §11): the
//! URL option takes effect, the byte count kept in the file is exact across
//! handles (as across processes: each has its own connections), across a
//! reopen with a smaller bound, and after a child process is killed with
//! SIGKILL in the middle of bounded writes.

use std::path::Path;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions};
use cachestore_sqlite::{SqliteStore, SqliteStoreBuilder};

/// Set in the child process that `sigkill_mid_bounded_writes_keeps_the_count_exact` starts.
const CHILD_PATH: &str = "CACHESTORE_BOUND_CHILD_PATH";
const CHILD_BOUND: u64 = 256 * 1024;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn options() -> SetOptions {
    SetOptions::for_duration(Duration::from_secs(3600))
        .header("etag", "\"0123456789\"")
        .header("content-type", "application/json")
}

fn batch(from: u64, n: u64) -> Vec<SetItem> {
    (from..from + n)
        .map(|i| SetItem::new("api", format!("k{i:08}"), Bytes::from(vec![7; 1000]), options()))
        .collect()
}

/// The count `cache_meta` keeps, and the bytes of the rows recomputed from
/// the rows table, read with a connection of the test's own.
fn count_and_sum(path: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let kept = conn
        .query_row("SELECT value FROM cache_meta WHERE name = 'stored_bytes'", [], |r| r.get(0))
        .expect("stored_bytes");
    let sum = conn
        .query_row(
            "SELECT coalesce(sum(length(namespace) + length(key) + length(headers) + payload_len \
             + coalesce(length(tags), 0)), 0) FROM cache_rows",
            [],
            |r| r.get(0),
        )
        .expect("sum");
    (kept, sum)
}

#[test]
fn the_max_bytes_url_option_bounds_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("url.sqlite");
    let url = format!("sqlite://{}?max_bytes=65536", path.display());
    let store = SqliteStoreBuilder::from_url(&url).and_then(|b| b.open()).expect("open by URL");
    assert_eq!(store.capabilities().max_bytes, Some(65536));
    rt().block_on(async {
        for i in 0..4 {
            store.set_many(batch(i * 50, 50)).await.expect("set_many");
        }
        let stats = store.stats().await.expect("stats");
        let stored = stats.stored_bytes.expect("a bounded store counts its bytes");
        assert!(stored <= 65536, "{stored} bytes stored under a bound of 65536");
        assert!(stats.evicted > 0 && stats.fresh + stats.evicted == 200, "{stats:?}");
        assert!(store.get("api", "k00000199").await.expect("get").is_some(), "newest row gone");
        assert!(store.get("api", "k00000000").await.expect("get").is_none(), "oldest row kept");
    });
    let (kept, sum) = count_and_sum(&path);
    assert_eq!(kept, sum, "the count in the file against the rows");
}

#[test]
fn the_count_is_exact_across_handles_and_a_smaller_bound_evicts_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.sqlite");
    let rt = rt();
    let bounded = SqliteStore::builder(&path).max_bytes(64 * 1024).open().expect("bounded");
    let unbounded = SqliteStore::open(&path).expect("unbounded on the same file");
    rt.block_on(async {
        unbounded.set_many(batch(0, 100)).await.expect("unbounded writes");
        unbounded.delete("api", "k00000003").await.expect("delete");
        let (kept, sum) = count_and_sum(&path);
        assert_eq!(kept, sum, "a handle without the bound keeps the count too");
        assert!(sum > 64 * 1024, "the unbounded handle does not evict");
        bounded.set("api", "one-more", Bytes::from_static(b"x"), options()).await.expect("set");
        let stats = bounded.stats().await.expect("stats");
        assert!(stats.stored_bytes.is_some_and(|b| b <= 64 * 1024), "{stats:?}");
        assert!(stats.evicted > 30, "{stats:?}");
        assert_eq!(unbounded.stats().await.expect("stats").evicted, stats.evicted);
    });
    let evicted = rt.block_on(bounded.stats()).expect("stats").evicted;
    drop((bounded, unbounded));
    let smaller = SqliteStore::builder(&path).max_bytes(16 * 1024).open().expect("reopen");
    let stats = rt.block_on(smaller.stats()).expect("stats");
    assert!(stats.stored_bytes.is_some_and(|b| b <= 16 * 1024), "{stats:?}");
    assert!(stats.evicted > evicted, "opening with a smaller bound evicted nothing: {stats:?}");
    let (kept, sum) = count_and_sum(&path);
    assert_eq!(kept, sum);
}

/// The child: bounded writes forever, until killed.
fn child(path: &str) {
    let store = SqliteStore::builder(path).max_bytes(CHILD_BOUND).open().expect("child open");
    rt().block_on(async {
        let mut i = 0;
        loop {
            store.set_many(batch(i, 20)).await.expect("child set_many");
            println!("written {i}");
            store.delete("api", &format!("k{:08}", i / 2)).await.expect("child delete");
            i += 20;
        }
    });
}

#[test]
fn sigkill_mid_bounded_writes_keeps_the_count_exact() {
    if let Ok(path) = std::env::var(CHILD_PATH) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("killed.sqlite");
    drop(SqliteStore::builder(&path).max_bytes(CHILD_BOUND).open().expect("create"));
    for round in 0..6u64 {
        // Past twice the bound in the first round, then on from there.
        let batches = 30 + 7 * round as usize;
        cachestore_test_harness::child::kill_after_lines(
            "sigkill_mid_bounded_writes_keeps_the_count_exact",
            CHILD_PATH,
            &path,
            batches,
        );
        let (kept, sum) = count_and_sum(&path);
        assert_eq!(kept, sum, "round {round}: the count after a SIGKILL against the rows");
        assert!(kept as u64 <= CHILD_BOUND, "round {round}: {kept} bytes over the bound");
        let store = SqliteStore::builder(&path).max_bytes(CHILD_BOUND).open().expect("reopen");
        let stats = rt().block_on(store.stats()).expect("stats");
        assert!(stats.fresh > 0 && stats.evicted > 0, "round {round}: {stats:?}");
        rt().block_on(store.integrity_check()).expect("integrity after SIGKILL");
    }
}

/// Over the bound, expired rows go first and down to 15/16 of the bound
/// (room for the writes after), but no further: the expired rows beyond
/// that, and every fresh row, stay.
#[test]
fn eviction_of_expired_rows_stops_at_fifteen_sixteenths_of_the_bound() {
    const BOUND: u64 = 64 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = cachestore_core::ManualClock::new();
    let store = SqliteStore::builder(dir.path().join("expired.sqlite"))
        .max_bytes(BOUND)
        .clock(clock.clone())
        .open()
        .expect("open");
    rt().block_on(async {
        let short = |i: u64| {
            let options = SetOptions::for_duration(Duration::from_secs(10));
            SetItem::new("old", format!("k{i:08}"), Bytes::from(vec![1; 1000]), options)
        };
        store.set_many((0..40).map(short).collect()).await.expect("short-lived rows");
        clock.advance(Duration::from_secs(60));
        let mut fresh = 0;
        while store.stats().await.expect("stats").evicted == 0 {
            store.set_many(batch(fresh, 1)).await.expect("fresh row");
            fresh += 1;
            assert!(fresh < 100, "nothing evicted after {fresh} rows over a 64 KiB bound");
        }
        let stats = store.stats().await.expect("stats");
        let stored = stats.stored_bytes.expect("a bounded store counts its bytes");
        assert!(stored <= BOUND / 16 * 15, "expired rows not evicted to 15/16: {stats:?}");
        assert!(stats.evicted >= 3, "{stats:?}");
        assert_eq!(stats.dead + stats.evicted, 40, "a fresh row was evicted: {stats:?}");
        assert!(stats.dead >= 30, "expired rows evicted past 15/16 of the bound: {stats:?}");
        assert_eq!(stats.fresh, fresh);
    });
}
