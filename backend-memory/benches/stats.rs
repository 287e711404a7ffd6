//! `stats()` against raw moka holding the same rows (expiry, headers and
//! payload per `(namespace, key)`), counted per namespace by iterating it:
//! the harness's `stats_bench`.
//!
//! Run: `cargo bench -p cachestore-memory --bench stats`
//! (`CACHESTORE_BENCH_STATS_ROWS=100000` for one size).

use std::collections::HashMap;
use std::sync::Arc;

use cachestore_core::{Bytes, Headers};
use cachestore_memory::MemoryStore;
use cachestore_test_harness::stats_bench::{self, PAYLOAD, fill, identity, sizes};
use criterion::Criterion;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

type Raw = moka::sync::Cache<(String, String), Arc<(i64, Headers, Bytes)>>;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    for rows in sizes() {
        let store = MemoryStore::new();
        fill(&rt, &store, rows);
        let raw: Raw = moka::sync::Cache::builder().build();
        let headers: Headers =
            [("etag".to_owned(), "\"3f2a9c0d5b7e41f6a8c2d9e0b1f4a7c3\"".to_owned())]
                .into_iter()
                .collect();
        let payload = Bytes::from(vec![0x5a; PAYLOAD]);
        for i in 0..rows {
            let (ns, key) = identity(i);
            let row = Arc::new((now_ms() + 3_600_000, headers.clone(), payload.clone()));
            raw.insert((ns.to_owned(), key), row);
        }
        let count = || -> u64 {
            let now = now_ms();
            let mut per_ns: HashMap<String, (u64, u64)> = HashMap::new();
            for (k, v) in raw.iter() {
                if v.0 > now {
                    let e = match per_ns.get_mut(&k.0) {
                        Some(e) => e,
                        None => per_ns.entry(k.0.clone()).or_default(),
                    };
                    e.0 += 1;
                    e.1 += v.2.len() as u64;
                }
            }
            per_ns.values().map(|e| e.0).sum()
        };
        stats_bench::group(&mut c, &rt, rows, &store, &count);
    }
    c.final_summary();
    stats_bench::print("cachestore-memory stats / raw moka iteration", "<= 1.0");
}
