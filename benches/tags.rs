//! `invalidate_tag` of 1,000 rows against what a store without tags needs
//! to find them: a scan of every row, in one run, at 100k and 1M rows, on
//! memory, SQLite and redb (CONTRACT.md §9: the cost grows with the tag's
//! rows, not with the store; the target is ≥ 100× faster than the scan).
//!
//! Rows carry 100 bytes of payload and two headers; the 1,000 tagged rows
//! are spread over three namespaces and written again (not timed) before
//! each invalidation. The scan side only reads (pages of 10,000 rows; one
//! page on memory, whose scan walks every row per page), so it is the
//! cheaper half of "scan and delete": the ratio does not flatter tags. At
//! the end a table of median ratios (invalidate / scan) is printed.
//!
//! Run: `cargo bench -p cachestore --bench tags --features sqlite,redb`
//! (`CACHESTORE_BENCH_MAX_ROWS=100000` skips the 1M-row points.)

use std::sync::Arc;
use std::time::Duration;

use cachestore::{Bytes, CacheStore, SetItem, SetOptions};
use cachestore_test_harness::bench::print_ratio_table;
use criterion::{BatchSize, Criterion};
use tokio::runtime::Runtime;

const TAGGED: u64 = 1_000;
const NAMESPACES: [&str; 3] = ["musicbrainz", "discogs", "lastfm"];

fn options() -> SetOptions {
    SetOptions::for_duration(Duration::from_secs(3600))
        .header("content-type", "application/json")
        .header("etag", "\"5f1c2a9e\"")
}

/// `rows` untagged rows over the three namespaces.
fn fill(runtime: &Runtime, store: &dyn CacheStore, rows: u64) {
    let payload = Bytes::from(vec![0x5au8; 100]);
    runtime.block_on(async {
        let keys: Vec<u64> = (0..rows).collect();
        for chunk in keys.chunks(5_000) {
            let items = chunk.iter().map(|i| {
                let ns = NAMESPACES[(*i % 3) as usize];
                SetItem::new(ns, format!("row{i:07}"), payload.clone(), options())
            });
            store.set_many(items.collect()).await.expect("fill");
        }
    });
}

/// The 1,000 rows of the group, tagged: some of the store's rows,
/// overwritten with the tag.
fn tag_group(runtime: &Runtime, store: &dyn CacheStore, rows: u64) {
    let payload = Bytes::from(vec![0xa5u8; 100]);
    let stride = rows / TAGGED;
    let items = (0..TAGGED).map(|j| {
        let i = j * stride;
        let ns = NAMESPACES[(i % 3) as usize];
        SetItem::new(ns, format!("row{i:07}"), payload.clone(), options().tag("album:x"))
    });
    runtime.block_on(store.set_many(items.collect())).expect("tag the group");
}

fn scan_all(runtime: &Runtime, store: &dyn CacheStore, page: usize) -> u64 {
    runtime.block_on(async {
        let (mut n, mut after) = (0u64, None);
        loop {
            let p = store.scan(None, after.as_ref(), page).await.expect("scan");
            n += p.items.len() as u64;
            match p.next {
                Some(next) => after = Some(next),
                None => return n,
            }
        }
    })
}

fn bench_backend(c: &mut Criterion, name: &str, store: Arc<dyn CacheStore>, rows: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    fill(&runtime, store.as_ref(), rows);
    let page = if name == "memory" { usize::MAX } else { 10_000 };
    let mut g = c.benchmark_group(format!("tag_{name}_{}k", rows / 1000));
    g.sample_size(10);
    g.bench_function("store", |b| {
        b.iter_batched(
            || tag_group(&runtime, store.as_ref(), rows),
            |()| {
                let n = runtime.block_on(store.invalidate_tag("album:x")).expect("invalidate");
                assert_eq!(n, TAGGED);
            },
            BatchSize::PerIteration,
        );
    });
    // The rows the invalidations took are written again for the scan.
    tag_group(&runtime, store.as_ref(), rows);
    g.bench_function("raw", |b| {
        b.iter(|| assert_eq!(scan_all(&runtime, store.as_ref(), page), rows))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let max: u64 = std::env::var("CACHESTORE_BENCH_MAX_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let points: Vec<u64> = [100_000u64, 1_000_000].into_iter().filter(|n| *n <= max).collect();
    let mut table = Vec::new();
    for &rows in &points {
        let label = format!("{}k", rows / 1000);
        bench_backend(&mut c, "memory", Arc::new(cachestore::MemoryStore::new()), rows);
        table.push(format!("tag_memory_{label}"));
        #[cfg(feature = "sqlite")]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let store =
                cachestore::SqliteStore::open(dir.path().join("tags.sqlite")).expect("open");
            bench_backend(&mut c, "sqlite", Arc::new(store), rows);
            table.push(format!("tag_sqlite_{label}"));
        }
        #[cfg(feature = "redb")]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = cachestore::RedbStore::open(dir.path().join("tags.redb")).expect("open");
            bench_backend(&mut c, "redb", Arc::new(store), rows);
            table.push(format!("tag_redb_{label}"));
        }
    }
    c.final_summary();
    let rows: Vec<(&str, &str)> = table.iter().map(|g| (g.as_str(), "<= 0.01")).collect();
    print_ratio_table("invalidate_tag of 1,000 rows / a scan of every row", &rows);
}
