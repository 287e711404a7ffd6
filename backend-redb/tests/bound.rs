//! The size bound on redb beyond the shared suite (CONTRACT.md §11): the
//! URL option takes effect, the evictions are counted across reopens, a
//! smaller bound evicts at open, and evictions are logged with their write,
//! so that a child process killed with SIGKILL in the middle of bounded
//! writes leaves, once the log is replayed, no more than the bound.

use std::path::Path;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions, row_bytes};
use cachestore_redb::{RedbStore, RedbStoreBuilder};

const CHILD_PATH: &str = "CACHESTORE_REDB_BOUND_CHILD_PATH";
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

/// The bytes of every live row, by scanning a store opened without a bound
/// (so that opening evicts nothing).
fn scanned_bytes(path: &Path) -> u64 {
    let store = RedbStore::open(path).expect("open without a bound");
    rt().block_on(async {
        let (mut total, mut cursor) = (0, None);
        loop {
            let page = store.scan(None, cursor.as_ref(), 500).await.expect("scan");
            for i in &page.items {
                let e = &i.entry;
                total += row_bytes(&i.namespace, &i.key, &e.headers, &e.tags, e.payload.len());
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return total,
            }
        }
    })
}

#[test]
fn the_max_bytes_url_option_bounds_the_store_and_counts_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("url.redb");
    let url = format!("redb://{}?max_bytes=65536", path.display());
    let store = RedbStoreBuilder::from_url(&url).and_then(|b| b.open()).expect("open by URL");
    assert_eq!(store.capabilities().max_bytes, Some(65536));
    let rt = rt();
    let evicted = rt.block_on(async {
        for i in 0..4 {
            store.set_many(batch(i * 50, 50)).await.expect("set_many");
        }
        let stats = store.stats().await.expect("stats");
        let stored = stats.stored_bytes.expect("a bounded store counts its bytes");
        assert!(stored <= 65536, "{stored} bytes stored under a bound of 65536");
        assert!(stats.evicted > 0 && stats.fresh + stats.evicted == 200, "{stats:?}");
        assert!(store.get("api", "k00000199").await.expect("get").is_some(), "newest row gone");
        assert!(store.get("api", "k00000000").await.expect("get").is_none(), "oldest row kept");
        stats.evicted
    });
    drop(store);
    let smaller = RedbStore::builder(&path).max_bytes(16 * 1024).open().expect("reopen");
    let stats = rt.block_on(smaller.stats()).expect("stats");
    assert!(stats.stored_bytes.is_some_and(|b| b <= 16 * 1024), "{stats:?}");
    assert!(stats.evicted > evicted, "the count went from {evicted} to {}", stats.evicted);
    drop(smaller);
    assert!(scanned_bytes(&path) <= 16 * 1024);
}

fn child(path: &str) {
    let store = RedbStore::builder(path).max_bytes(CHILD_BOUND).open().expect("child open");
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
fn sigkill_mid_bounded_writes_replays_the_evictions() {
    if let Ok(path) = std::env::var(CHILD_PATH) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("killed.redb");
    drop(RedbStore::builder(&path).max_bytes(CHILD_BOUND).open().expect("create"));
    for round in 0..5u64 {
        // Past twice the bound in the first round, then on from there.
        let batches = 30 + 7 * round as usize;
        cachestore_test_harness::child::kill_after_lines(
            "sigkill_mid_bounded_writes_replays_the_evictions",
            CHILD_PATH,
            &path,
            batches,
        );
        let bytes = scanned_bytes(&path);
        assert!(bytes <= CHILD_BOUND, "round {round}: {bytes} bytes after the replay");
        assert!(bytes > CHILD_BOUND / 2, "round {round}: only {bytes} bytes left");
        let store = RedbStore::builder(&path).max_bytes(CHILD_BOUND).open().expect("reopen");
        let stats = rt().block_on(store.stats()).expect("stats");
        // (`evicted` may have lost the evictions since the last checkpoint:
        // the log replays their deletes, not the counter.)
        assert!(stats.stored_bytes.is_some_and(|b| b <= CHILD_BOUND), "round {round}: {stats:?}");
    }
}
