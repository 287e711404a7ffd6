//! `stats()` against the plainest raw code that counts the same rows
//! (CONTRACT.md §10), in one run, at each size of
//! `CACHESTORE_BENCH_STATS_ROWS` (default `100000,1000000`): rows of 100 B
//! of payload and ~90 B of headers, fresh for an hour, across 4
//! namespaces. The raw side is each engine's everyday use on a minimal
//! layout of its own, filled with the same rows: what a hand-written cache
//! would run to count its rows and payload bytes per namespace.
//!
//! Each backend's `benches/stats.rs` gives the store and the raw side; the
//! table printed at the end has one row per size.

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions};
use criterion::{Criterion, SamplingMode};
use tokio::runtime::Runtime;

use crate::bench::print_ratio_table;

/// The payload of every row.
pub const PAYLOAD: usize = 100;

/// The namespaces the rows are spread over.
pub const NAMESPACES: [&str; 4] = ["musicbrainz", "discogs", "lastfm", "tmdb"];

/// The sizes to measure.
pub fn sizes() -> Vec<u64> {
    std::env::var("CACHESTORE_BENCH_STATS_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

/// Row `i`: its namespace and key.
pub fn identity(i: u64) -> (&'static str, String) {
    (NAMESPACES[(i % 4) as usize], format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// Writes `rows` rows into `store` in batches of 1,000.
pub fn fill<S: CacheStore>(rt: &Runtime, store: &S, rows: u64) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let options = SetOptions::for_duration(Duration::from_secs(3600))
        .header("etag", "\"3f2a9c0d5b7e41f6a8c2d9e0b1f4a7c3\"")
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "max-age=3600");
    let mut i = 0;
    while i < rows {
        let n = (rows - i).min(1_000);
        let items = (i..i + n)
            .map(|j| {
                let (ns, key) = identity(j);
                SetItem::new(ns, key, payload.clone(), options.clone())
            })
            .collect();
        rt.block_on(store.set_many(items)).expect("fill");
        i += n;
    }
}

/// The group `stats_<rows>`: the store's `stats()` (`store`) against `raw`,
/// which must count the same live rows.
pub fn group<S: CacheStore>(
    c: &mut Criterion,
    rt: &Runtime,
    rows: u64,
    store: &S,
    raw: &dyn Fn() -> u64,
) {
    let stats = rt.block_on(store.stats()).expect("stats");
    assert_eq!(stats.fresh, rows, "the store holds the rows it was given");
    assert_eq!(raw(), rows, "the raw side counts the same rows");
    let mut g = c.benchmark_group(format!("stats_{rows}"));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    if rows >= 1_000_000 {
        g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    }
    g.bench_function("store", |b| {
        b.iter(|| assert_eq!(rt.block_on(store.stats()).expect("stats").fresh, rows))
    });
    g.bench_function("raw", |b| b.iter(|| assert_eq!(raw(), rows)));
    g.finish();
}

/// Prints the ratio table of the sizes measured.
pub fn print(title: &str, target: &str) {
    let groups: Vec<String> = sizes().iter().map(|n| format!("stats_{n}")).collect();
    let rows: Vec<(&str, &str)> = groups.iter().map(|g| (g.as_str(), target)).collect();
    print_ratio_table(title, &rows);
}
