//! Load on one handle: many tasks at once, and the write-ahead log's size
//! under a steady write load with a reader always active.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_sqlite::SqliteStore;

/// 16 tasks × 5,000 operations on one handle (a multi-threaded runtime, so
/// reads, inline writes and group commits really overlap): the suite's
/// concurrency check with five times the operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_times_five_thousand_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("cache.sqlite")).expect("open"));
    cachestore_conformance::behaviours::concurrent_tasks(Arc::clone(&store), 16, 5_000).await;
    store.integrity_check().await.expect("sound after the load");
}

/// The bound the `-wal` file keeps under load: `journal_size_limit` (16 MiB)
/// plus what accumulates between two checkpoints (1,000 pages, ~4 MiB),
/// with room to spare.
const WAL_BOUND: u64 = 24 * 1024 * 1024;

/// 100,000 single-row writes of 1 KiB while a reader reads without pause:
/// the `-wal` file never grows past [`WAL_BOUND`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_stays_bounded_under_writes_with_an_active_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let wal = dir.path().join("cache.sqlite-wal");
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (store, stop, reads) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&reads));
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let _ = store.get("ns", &format!("k{}", i % 1_000)).await.expect("read");
                if i.is_multiple_of(100) {
                    let _ = store.scan(Some("ns"), None, 50).await.expect("scan");
                }
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let payload = Bytes::from(vec![0xabu8; 1024]);
    let mut max_wal = 0;
    for i in 0..100_000u64 {
        store
            .set("ns", &format!("k{}", i % 20_000), payload.clone(), SetOptions::new())
            .await
            .expect("set");
        if i.is_multiple_of(1_000) {
            max_wal = max_wal.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("reader");
    max_wal = max_wal.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 1_000, "the reader barely ran ({reads} reads): the test did not test");
    assert!(max_wal <= WAL_BOUND, "the -wal file reached {max_wal} bytes, over {WAL_BOUND}");
    println!("max -wal size {max_wal} bytes over 100k writes with {reads} concurrent reads");
    tokio::time::sleep(Duration::from_millis(1)).await;
}
