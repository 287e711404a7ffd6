//! What the size bound (CONTRACT.md §11) costs a store, in one run: a store
//! with `max_bytes` against the same store without it, at the same
//! durability, rows of 1 KiB of payload and ~90 B of headers in namespace
//! `bench`, every write a new key.
//!
//! - criterion groups at steady state (the bounded store full, so every
//!   write evicts; the unbounded one holding the same rows): `set` of one
//!   row and `set_many` of 100;
//! - keys are 16 hex digits in no order (a hashed counter), as URL-derived
//!   keys are; with keys in write order the unbounded side appends and the
//!   ratios are lower (see docs/performance.md);
//! - then a pass that writes `CACHESTORE_BENCH_WRITTEN_MIB` (default 1024)
//!   MiB of rows through a bound of `CACHESTORE_BENCH_BOUND_MIB` (default 64)
//!   MiB in batches of 100, three times per side: the write throughput of
//!   each, the most `stats().stored_bytes` showed (sampled every 64
//!   batches; the suite checks it after every write), and the files against
//!   the bound before and after `compact()`.
//!
//! Run: `cargo bench -p cachestore-sqlite --bench bound`,
//! `cargo bench -p cachestore-redb --bench bound`.

use std::path::Path;
use std::time::{Duration, Instant};

use cachestore_core::{Bytes, CacheStore, Headers, SetItem, SetOptions};
use criterion::{BatchSize, Criterion, SamplingMode};
use tokio::runtime::Runtime;

use crate::bench::median;

/// Opens a store at a path (a file to create), with a bound or without.
pub type Opener<S> = dyn Fn(&Path, Option<u64>) -> S;

const PAYLOAD: usize = 1024;
const BATCH: usize = 100;

fn mib(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default) << 20
}

fn headers() -> Headers {
    [
        ("etag", "\"3f2a9c0d5b7e41f6a8c2d9e0b1f4a7c3\""),
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "max-age=3600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn options() -> SetOptions {
    SetOptions::for_duration(Duration::from_secs(86_400)).headers(headers())
}

/// New keys in batches of `n`: hex of a counter scattered by a
/// multiplicative hash, as URL-derived keys land in no order of their own.
struct Keys(u64);

impl Keys {
    fn batch(&mut self, n: usize, payload: &Bytes) -> Vec<SetItem> {
        (0..n)
            .map(|_| {
                self.0 += 1;
                let key = format!("{:016x}", self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                SetItem::new("bench", key, payload.clone(), options())
            })
            .collect()
    }
}

/// Writes `bytes` of rows (by `row_bytes`) to `store`; returns the keys used.
fn write_through<S: CacheStore>(
    rt: &Runtime,
    store: &S,
    keys: &mut Keys,
    bytes: u64,
    mut each: impl FnMut(usize),
) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let row = cachestore_core::row_bytes(
        "bench",
        "0123456789abcdef",
        &headers(),
        &Default::default(),
        PAYLOAD,
    );
    let batches = bytes / row / BATCH as u64;
    for i in 0..batches {
        rt.block_on(store.set_many(keys.batch(BATCH, &payload))).expect("set_many");
        each(i as usize);
    }
}

fn steady<S: CacheStore>(c: &mut Criterion, rt: &Runtime, bound: u64, open: &Opener<S>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let bounded = open(&dir.path().join("bounded"), Some(bound));
    let unbounded = open(&dir.path().join("unbounded"), None);
    let (mut kb, mut ku) = (Keys(0), Keys(0));
    // Fill both past the bound: the bounded store is then full.
    write_through(rt, &bounded, &mut kb, bound + bound / 8, |_| {});
    write_through(rt, &unbounded, &mut ku, bound + bound / 8, |_| {});
    let mut g = c.benchmark_group("bound_set");
    g.sample_size(30).sampling_mode(SamplingMode::Flat);
    for (name, store, keys) in [("bounded", &bounded, &mut kb), ("unbounded", &unbounded, &mut ku)]
    {
        g.bench_function(name, |b| {
            b.iter_batched(
                || keys.batch(1, &payload).pop().expect("one"),
                |item| {
                    rt.block_on(store.set(&item.namespace, &item.key, item.payload, item.options))
                        .expect("set")
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    let mut g = c.benchmark_group("bound_set_many_100");
    g.sample_size(20).sampling_mode(SamplingMode::Flat);
    for (name, store, keys) in [("bounded", &bounded, &mut kb), ("unbounded", &unbounded, &mut ku)]
    {
        g.bench_function(name, |b| {
            b.iter_batched(
                || keys.batch(BATCH, &payload),
                |items| rt.block_on(store.set_many(items)).expect("set_many"),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    let stored = rt.block_on(bounded.stats()).expect("stats").stored_bytes.unwrap_or(u64::MAX);
    assert!(stored <= bound, "the bounded store holds {stored} bytes over its bound {bound}");
}

struct Pass {
    secs: f64,
    most: u64,
    disk: u64,
    compacted: u64,
}

fn pass<S: CacheStore>(rt: &Runtime, bound: Option<u64>, written: u64, open: &Opener<S>) -> Pass {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("through"), bound);
    let mut most = 0;
    let start = Instant::now();
    write_through(rt, &store, &mut Keys(0), written, |i| {
        if bound.is_some() && i % 64 == 63 {
            let stats = rt.block_on(store.stats()).expect("stats");
            most = most.max(stats.stored_bytes.expect("a bounded store counts its bytes"));
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let stats = rt.block_on(store.stats()).expect("stats");
    if let Some(stored) = stats.stored_bytes {
        most = most.max(stored);
    }
    let disk = stats.disk_bytes.unwrap_or(0);
    let compacted = match bound {
        Some(_) => {
            rt.block_on(store.compact()).expect("compact");
            rt.block_on(store.stats()).expect("stats").disk_bytes.unwrap_or(0)
        }
        None => disk,
    };
    Pass { secs, most, disk, compacted }
}

fn middle(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Runs the bound benchmark (see the module docs) on the stores `open`
/// gives: `Some(bytes)` for a store with that bound, `None` for none;
/// `title` heads the table printed at the end.
pub fn bound_bench<S: CacheStore>(title: &str, open: &Opener<S>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let bound = mib("CACHESTORE_BENCH_BOUND_MIB", 64);
    let written = mib("CACHESTORE_BENCH_WRITTEN_MIB", 1024);
    let mut c = Criterion::default().configure_from_args();
    steady(&mut c, &rt, bound, open);
    c.final_summary();

    let mut ratios = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..3 {
        let b = pass(&rt, Some(bound), written, open);
        let u = pass(&rt, None, written, open);
        assert!(b.most <= bound, "stored_bytes reached {} over the bound {bound}", b.most);
        ratios.push(u.secs / b.secs);
        rows.push((b, u));
    }
    println!("\n{title}: a {} MiB bound, bounded / unbounded", bound >> 20);
    for group in ["bound_set", "bound_set_many_100"] {
        match (median(group, "bounded"), median(group, "unbounded")) {
            (Some(b), Some(u)) => {
                println!("  {group:<22} {:>8.2} µs vs {:>8.2} µs: {:.2}×", b / 1e3, u / 1e3, b / u)
            }
            _ => println!("  {group:<22} (no estimate)"),
        }
    }
    let (mid, lo, hi) = middle(ratios);
    println!(
        "  {} MiB written through it, batches of {BATCH}: throughput {mid:.2}× unbounded \
         (range {lo:.2}–{hi:.2}; target >= 0.8)",
        written >> 20
    );
    for (i, (b, u)) in rows.iter().enumerate() {
        println!(
            "    run {i}: bounded {:.1} s, unbounded {:.1} s; most stored {:.1} MiB; files {:.2}× \
             the bound ({:.2}× after compact); unbounded files {:.0} MiB",
            b.secs,
            u.secs,
            b.most as f64 / f64::from(1 << 20),
            b.disk as f64 / bound as f64,
            b.compacted as f64 / bound as f64,
            u.disk as f64 / f64::from(1 << 20),
        );
    }
}
