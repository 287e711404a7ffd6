//! The cost of the typed layer: a `get_or_fetch` hit against the bare
//! store `get` plus the JSON decode an application would do itself, in one
//! run, on memory, SQLite and redb. Rows are ~1 KiB of JSON with ~90 B of
//! headers, 10k of them; the fetcher is never called (every lookup hits).
//! At the end a table of median ratios (cache / bare) is printed.
//!
//! Run: `cargo bench -p cachestore --bench fetch --features sqlite,redb`

use std::sync::Arc;
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchPolicy, SetOptions};
use cachestore_test_harness::bench::{print_ratio_table, stride_keys};
use criterion::Criterion;
use serde::{Deserialize, Serialize};

const ROWS: u64 = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Movie {
    id: u64,
    title: String,
    overview: String,
    genres: Vec<String>,
    rating: f32,
}

fn movie(id: u64) -> Movie {
    Movie {
        id,
        title: format!("Movie number {id}"),
        overview: "A story told at length. ".repeat(38),
        genres: vec!["Action".into(), "Science Fiction".into()],
        rating: 8.2,
    }
}

fn options() -> SetOptions {
    SetOptions::for_duration(Duration::from_secs(3600))
        .header("content-type", "application/json; charset=utf-8")
        .header("etag", "\"5f1c2a9e0b7d4c3f\"")
        .header("cache-control", "max-age=3600")
}

fn bench_backend(c: &mut Criterion, name: &str, store: Arc<dyn CacheStore>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let cache = Cache::new(Arc::clone(&store));
    runtime.block_on(async {
        for i in 0..ROWS {
            cache.set("bench", &format!("k{i}"), &movie(i), options()).await.expect("fill");
        }
    });
    let policy = FetchPolicy::new(Duration::from_secs(3600));
    let mut g = c.benchmark_group(format!("fetch_hit_{name}"));
    let mut key = stride_keys(ROWS);
    g.bench_function("raw", |b| {
        b.to_async(&runtime).iter(|| {
            let (store, k) = (&store, key());
            async move {
                let entry = store.get("bench", &k).await.expect("get").expect("hit");
                let m: Movie = serde_json::from_slice(&entry.payload).expect("decode");
                assert!(m.id < ROWS);
            }
        })
    });
    let mut key = stride_keys(ROWS);
    g.bench_function("store", |b| {
        b.to_async(&runtime).iter(|| {
            let (cache, policy, k) = (&cache, &policy, key());
            async move {
                let got = cache
                    .get_or_fetch("bench", &k, policy, || async {
                        Err::<Movie, _>("the fetcher ran on a hit".to_owned())
                    })
                    .await
                    .expect("hit");
                assert!(got.value.id < ROWS);
            }
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let dir = tempfile::tempdir().expect("tempdir");
    bench_backend(&mut c, "memory", Arc::new(cachestore::MemoryStore::new()));
    #[cfg(feature = "sqlite")]
    bench_backend(
        &mut c,
        "sqlite",
        Arc::new(cachestore::SqliteStore::open(dir.path().join("b.sqlite")).expect("sqlite")),
    );
    #[cfg(feature = "redb")]
    bench_backend(
        &mut c,
        "redb",
        Arc::new(cachestore::RedbStore::open(dir.path().join("b.redb")).expect("redb")),
    );
    c.final_summary();
    print_ratio_table(
        "get_or_fetch hit vs store get + JSON decode",
        &[
            ("fetch_hit_memory", "<= 1.30x"),
            ("fetch_hit_sqlite", "<= 1.30x"),
            ("fetch_hit_redb", "<= 1.30x"),
        ],
    );
}
