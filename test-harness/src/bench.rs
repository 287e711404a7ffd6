//! Helpers for backends' criterion benchmarks against their raw engines:
//! the store's side of each comparison (the same calls for every backend),
//! the workloads, and the tables printed at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions, Ttl};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode};
use tokio::runtime::Runtime;

/// A criterion group timed by the wall clock.
pub type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// The keys `k0` to `k{rows - 1}`, visited in a fixed stride that touches
/// every one before repeating.
pub fn stride_keys(rows: u64) -> impl FnMut() -> String {
    let mut i = 0u64;
    move || {
        i = (i + 7919) % rows;
        format!("k{i}")
    }
}

/// The store's side of the single-call comparisons, as `store` in each
/// group: calls in namespace `bench` on keys the benchmark chooses. Each
/// call is awaited inside one task per criterion sample, as an async
/// application awaits it: a `block_on` per call would add the runtime's own
/// enter and exit (~160 ns here) to every call.
pub struct StoreSide<'a, S: ?Sized> {
    /// The runtime the calls run on.
    pub runtime: &'a Runtime,
    /// The store.
    pub store: &'a S,
    /// What `set` writes.
    pub payload: Bytes,
    /// How `set` writes it.
    pub options: SetOptions,
}

impl<S: CacheStore + ?Sized> StoreSide<'_, S> {
    /// `get` of the key `key` gives, which must be there when `hit`.
    pub fn get(&self, g: &mut Group<'_>, key: &mut impl FnMut() -> String, hit: bool) {
        let store = self.store;
        g.bench_function("store", |b| {
            b.to_async(self.runtime).iter(|| {
                let k = key();
                async move { assert_eq!(store.get("bench", &k).await.expect("get").is_some(), hit) }
            })
        });
    }

    /// `set` of the payload at the key `key` gives.
    pub fn set(&self, g: &mut Group<'_>, key: &mut impl FnMut() -> String) {
        let store = self.store;
        g.bench_function("store", |b| {
            b.to_async(self.runtime).iter(|| {
                let (k, p, o) = (key(), self.payload.clone(), self.options.clone());
                async move { store.set("bench", &k, p, o).await.expect("set") }
            })
        });
    }

    /// `set_many` of `n` items at the keys `key` gives.
    pub fn set_many(&self, g: &mut Group<'_>, key: &mut impl FnMut() -> String, n: usize) {
        g.bench_function("store", |b| {
            b.iter_batched(
                || {
                    (0..n)
                        .map(|_| {
                            SetItem::new("bench", key(), self.payload.clone(), self.options.clone())
                        })
                        .collect::<Vec<_>>()
                },
                |items| self.runtime.block_on(self.store.set_many(items)).expect("set_many"),
                BatchSize::SmallInput,
            )
        });
    }

    /// `get_many` of `n` keys `key` gives, every one there.
    pub fn get_many(&self, g: &mut Group<'_>, key: &mut impl FnMut() -> String, n: usize) {
        g.bench_function("store", |b| {
            b.iter_batched(
                || (0..n).map(|_| key()).collect::<Vec<_>>(),
                |keys| {
                    let ids: Vec<(&str, &str)> =
                        keys.iter().map(|k| ("bench", k.as_str())).collect();
                    let rows = self.runtime.block_on(self.store.get_many(&ids)).expect("get_many");
                    assert!(rows.iter().all(Option::is_some));
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// Writes `rows` rows of `payload_len` bytes (keys `k0`…, namespace
/// `bench`, fresh for an hour) into `store`, `batch` rows per `set_many`:
/// the table the single-call benchmarks read and overwrite.
pub fn fill<S: CacheStore + ?Sized>(
    runtime: &Runtime,
    store: &S,
    rows: u64,
    payload_len: usize,
    batch: usize,
) {
    let payload = Bytes::from(vec![0x5au8; payload_len]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    runtime.block_on(async {
        let keys: Vec<u64> = (0..rows).collect();
        for chunk in keys.chunks(batch.max(1)) {
            let items = chunk
                .iter()
                .map(|i| SetItem::new("bench", format!("k{i}"), payload.clone(), options.clone()));
            store.set_many(items.collect()).await.expect("fill");
        }
    });
}

/// `rows` items of 100 bytes in namespace `bench` (keys `k0`…), every
/// other one already dead and the rest fresh for an hour, in `set_many`
/// batches of `batch`: the purge benchmark's rows.
pub fn half_dead_batches(rows: u64, batch: usize) -> impl Iterator<Item = Vec<SetItem>> {
    let keys: Vec<u64> = (0..rows).collect();
    let batches: Vec<Vec<u64>> = keys.chunks(batch.max(1)).map(<[u64]>::to_vec).collect();
    batches.into_iter().map(|chunk| {
        chunk
            .into_iter()
            .map(|i| {
                let secs = if i % 2 == 0 { 0 } else { 3600 };
                let options = SetOptions::new().ttl(Ttl::For(Duration::from_secs(secs)));
                SetItem::new("bench", format!("k{i}"), vec![1u8; 100], options)
            })
            .collect()
    })
}

/// For criterion's `iter_custom`: `iters` times, a fresh `setup` (not
/// timed), then `run` on it (timed), which must answer `expect`. The input
/// is dropped after the clock stops: closing a store (joining its writer,
/// its last commit) is not part of what is measured.
pub fn timed_runs<T>(
    iters: u64,
    mut setup: impl FnMut() -> T,
    mut run: impl FnMut(&T) -> u64,
    expect: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = setup();
        let start = Instant::now();
        let got = run(&input);
        total += start.elapsed();
        drop(input);
        assert_eq!(got, expect);
    }
    total
}

/// The group `name`: `writers` concurrent writers of `per_writer` rows
/// each, the store's tasks on `runtime` against raw threads, each opening
/// its own handle with `open` and writing through `write`.
#[allow(clippy::too_many_arguments)]
pub fn writers_group<S: CacheStore, H>(
    c: &mut Criterion,
    name: &str,
    runtime: &Runtime,
    store: &Arc<S>,
    (writers, per_writer): (usize, usize),
    payload: &Bytes,
    open: impl Fn() -> H + Sync,
    write: impl Fn(&H, &str) + Sync,
) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function("store", |b| {
        b.iter(|| concurrent_sets(runtime, store, writers, per_writer, payload))
    });
    g.bench_function("raw", |b| b.iter(|| concurrent_raw_sets(writers, per_writer, &open, &write)));
    g.finish();
}

/// Where criterion writes its estimates: `$CRITERION_HOME`, else the
/// `criterion` folder of the target directory the running benchmark was
/// built in (`<target>/release/deps/<bench>`), wherever that is.
fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.ancestors().nth(3)?.join("criterion"))
}

/// Criterion's median estimate of `group/function` from the last run, in
/// nanoseconds.
pub fn median(group: &str, function: &str) -> Option<f64> {
    let file = criterion_home()?.join(group).join(function).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints a table of `store` / `raw` median ratios, one row per group,
/// with the target next to each.
pub fn print_ratio_table(title: &str, rows: &[(&str, &str)]) {
    println!("\n{title}, criterion medians (lower ratio is better)");
    println!("{:<26} {:>14} {:>14} {:>8} {:>10}", "operation", "store", "raw", "ratio", "target");
    for (group, target) in rows {
        if let (Some(s), Some(r)) = (median(group, "store"), median(group, "raw")) {
            println!(
                "{group:<26} {:>12.1}µs {:>12.1}µs {:>7.2}x {target:>10}",
                s / 1e3,
                r / 1e3,
                s / r
            );
        }
    }
}

/// Prints a throughput row: `writes` per iteration, raw / store time.
pub fn print_throughput_row(group: &str, writes: f64, target: &str) {
    if let (Some(s), Some(r)) = (median(group, "store"), median(group, "raw")) {
        println!(
            "{group:<26} {:>10.0}w/s {:>10.0}w/s {:>7.2}x {target:>10}",
            writes / (s / 1e9),
            writes / (r / 1e9),
            r / s
        );
    }
}

/// One iteration of the concurrent-writers benchmark: `writers` tasks on
/// `runtime`, each setting `per_writer` rows of `payload` (fresh for a
/// minute) on `store`.
pub fn concurrent_sets<S: cachestore_core::CacheStore>(
    runtime: &tokio::runtime::Runtime,
    store: &std::sync::Arc<S>,
    writers: usize,
    per_writer: usize,
    payload: &cachestore_core::Bytes,
) {
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (store, payload) = (std::sync::Arc::clone(store), payload.clone());
                tokio::spawn(async move {
                    for i in 0..per_writer {
                        let options = cachestore_core::SetOptions::for_duration(
                            std::time::Duration::from_secs(60),
                        );
                        store
                            .set("bench", &format!("w{w}-{i}"), payload.clone(), options)
                            .await
                            .expect("set");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a writer task");
        }
    });
}

/// The raw side of [`concurrent_sets`]: `writers` threads, each opening its
/// own handle with `open` and writing the same keys through `write`.
pub fn concurrent_raw_sets<H>(
    writers: usize,
    per_writer: usize,
    open: impl Fn() -> H + Sync,
    write: impl Fn(&H, &str) + Sync,
) {
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (open, write) = (&open, &write);
            scope.spawn(move || {
                let handle = open();
                for i in 0..per_writer {
                    write(&handle, &format!("w{w}-{i}"));
                }
            });
        }
    });
}
