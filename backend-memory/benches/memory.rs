//! A full scan of the memory store in pages, against raw moka doing the
//! same work the plainest way: collect its rows, sort them, and slice
//! pages. 100k rows of 100 bytes with two headers (1M with
//! `CACHESTORE_BENCH_MAX_ROWS=1000000`), pages of 1,000; one run prints the
//! median ratio (store / raw).
//!
//! Run: `cargo bench -p cachestore-memory --bench memory`

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions};
use cachestore_memory::MemoryStore;
use cachestore_test_harness::bench::print_ratio_table;
use criterion::Criterion;

const PAGE: usize = 1_000;

/// Raw moka: identity to payload and headers.
type RawCache = moka::sync::Cache<(String, String), Arc<(Bytes, Vec<(String, String)>)>>;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rows: u64 = std::env::var("CACHESTORE_BENCH_MAX_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let store = MemoryStore::new();
    let raw: RawCache = moka::sync::Cache::builder().build();
    let payload = Bytes::from(vec![0x5au8; 100]);
    let options = SetOptions::for_duration(Duration::from_secs(3600))
        .header("content-type", "application/json")
        .header("etag", "\"5f1c2a9e\"");
    runtime.block_on(async {
        let keys: Vec<u64> = (0..rows).collect();
        for chunk in keys.chunks(5_000) {
            let items = chunk.iter().map(|i| {
                SetItem::new("bench", format!("k{i:07}"), payload.clone(), options.clone())
            });
            store.set_many(items.collect()).await.expect("fill");
        }
    });
    for i in 0..rows {
        let headers = vec![("content-type".into(), "application/json".into())];
        raw.insert(("bench".into(), format!("k{i:07}")), Arc::new((payload.clone(), headers)));
    }
    let group = format!("memory_scan_{}k_pages", rows / 1000);
    let mut g = c.benchmark_group(&group);
    g.sample_size(10);
    g.bench_function("store", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (mut n, mut after) = (0u64, None);
                loop {
                    let page = store.scan(None, after.as_ref(), PAGE).await.expect("scan");
                    n += page.items.len() as u64;
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                assert_eq!(n, rows);
            })
        })
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let mut all: Vec<_> = raw.iter().collect();
            all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            // Each page owns its rows, as a scan's page does.
            let mut n = 0u64;
            for page in all.chunks(PAGE) {
                let owned: Vec<_> = page
                    .iter()
                    .map(|(k, v)| (k.0.clone(), k.1.clone(), v.0.clone(), v.1.clone()))
                    .collect();
                n += owned.len() as u64;
            }
            assert_eq!(n, rows);
        })
    });
    g.finish();
    c.final_summary();
    print_ratio_table("cachestore-memory / raw moka", &[(group.as_str(), "<= 1.5")]);
}
