//! The memory store's own behaviours beyond the shared suite: the byte bound,
//! the builder's checks and scans that follow writes.

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, Error, ManualClock, SetOptions};
use cachestore_memory::MemoryStore;

#[tokio::test]
async fn a_byte_bound_evicts_rows_and_is_declared() {
    let store = MemoryStore::builder()
        .clock(ManualClock::new())
        .max_capacity_bytes(1024 * 1024)
        .build()
        .expect("valid builder");
    assert!(store.capabilities().evicts_live_rows);
    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    for i in 0..100 {
        store.set("ns", &format!("k{i}"), payload.clone(), SetOptions::new()).await.expect("set");
    }
    store.run_pending_tasks();
    let weight = store.weighted_size();
    assert!(weight <= 1024 * 1024, "weighted size {weight} over the 1 MiB bound");
    let stats = store.stats().await.expect("stats");
    assert!(weight > stats.payload_bytes, "weighted size {weight} below the payloads kept");
    assert!(stats.fresh < 100 && stats.fresh > 0, "{} rows kept under a 1 MiB bound", stats.fresh);
    assert!(stats.payload_bytes <= 1024 * 1024);
    assert_eq!(stats.evicted, 100 - stats.fresh, "stats.evicted against the rows gone");
}

#[tokio::test]
async fn an_unbounded_store_never_drops_rows_by_time() {
    let clock = ManualClock::new();
    let store = MemoryStore::with_clock(clock.clone());
    assert!(!store.capabilities().evicts_live_rows);
    store
        .set(
            "ns",
            "k",
            Bytes::from_static(b"v"),
            SetOptions::for_duration(Duration::from_millis(5)),
        )
        .await
        .expect("set");
    clock.advance(Duration::from_secs(3600));
    store.run_pending_tasks();
    assert_eq!(store.get_stale("ns", "k").await.expect("read"), None);
    clock.rewind(Duration::from_secs(3600));
    assert!(
        store.get("ns", "k").await.expect("read").is_some(),
        "moka dropped the row by its own clock"
    );
}

#[test]
fn a_payload_limit_under_16_mib_is_refused() {
    let err = MemoryStore::builder().max_payload(1024).build().expect_err("1 KiB limit");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("16 MiB"), "{err}");
}

#[tokio::test]
async fn clones_share_rows() {
    let a = MemoryStore::new();
    let b = a.clone();
    a.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    assert!(b.get("ns", "k").await.expect("read").is_some());
}

#[tokio::test]
async fn a_scan_sees_every_row_written_before_it_began() {
    let store = MemoryStore::with_clock(ManualClock::new());
    let keys = |page: cachestore_core::Page| -> Vec<String> {
        page.items.into_iter().map(|item| item.key).collect()
    };
    store.set("ns", "b", Bytes::from_static(b"1"), SetOptions::new()).await.expect("set");
    assert_eq!(keys(store.scan(None, None, 10).await.expect("scan")), ["b"]);
    store.set("ns", "a", Bytes::from_static(b"2"), SetOptions::new()).await.expect("set");
    assert_eq!(keys(store.scan(None, None, 10).await.expect("scan")), ["a", "b"], "a new key");
    store.delete("ns", "b").await.expect("delete");
    assert_eq!(keys(store.scan(None, None, 10).await.expect("scan")), ["a"], "a removed key");
    // A scan left after its first page keeps its snapshot of the keys; a
    // scan begun after a write must not start from that snapshot.
    store.set("ns", "c", Bytes::from_static(b"3"), SetOptions::new()).await.expect("set");
    let first = store.scan(None, None, 1).await.expect("scan");
    assert!(first.next.is_some(), "a page of one of two rows");
    store.set("ns", "d", Bytes::from_static(b"4"), SetOptions::new()).await.expect("set");
    let all = keys(store.scan(None, None, 10).await.expect("scan"));
    assert_eq!(all, ["a", "c", "d"], "a row written before the scan began");
}
