//! cachestore-redb against raw redb doing the same work, in one run.
//!
//! Raw is everyday redb use: a `(&str, &str) -> &[u8]` table whose values
//! are `stale_until` (8 bytes) followed by the payload, durable commits
//! (`Durability::Immediate`). The store is durable by its default too: each
//! write synced to its write-ahead log before it is answered, with
//! checkpoints (durable redb commits) included in the timings. Each side
//! has its own file. Purge: both scan 100k rows. At the end a table of
//! median ratios is printed from criterion's own estimates, then the file
//! sizes after 100k small writes.
//!
//! Run: `cargo bench -p cachestore-redb --bench redb`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_redb::RedbStore;
use cachestore_test_harness::bench::{
    StoreSide, fill, half_dead_batches, stride_keys, timed_runs, writers_group,
};
use criterion::{BatchSize, Criterion, SamplingMode};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const ROWS: u64 = 10_000;
const PAYLOAD: usize = 1024;
const RAW: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("raw");

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn raw_value(stale_until: i64, payload: &[u8]) -> Vec<u8> {
    let mut v = stale_until.to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

fn raw_fill(db: &Database, rows: u64, payload_len: usize, dead_every: u64) {
    let payload = vec![0x5au8; payload_len];
    for chunk in (0..rows).collect::<Vec<_>>().chunks(5000) {
        let txn = db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(RAW).expect("table");
            for i in chunk {
                let stale =
                    if dead_every > 0 && i % dead_every == 0 { 0 } else { now_ms() + 3_600_000 };
                t.insert(
                    ("bench", format!("k{i}").as_str()),
                    raw_value(stale, &payload).as_slice(),
                )
                .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
}

fn raw_set(db: &Database, key: &str, payload: &[u8]) {
    let txn = db.begin_write().expect("txn");
    {
        let mut t = txn.open_table(RAW).expect("table");
        t.insert(("bench", key), raw_value(now_ms() + 3_600_000, payload).as_slice())
            .expect("insert");
    }
    txn.commit().expect("commit");
}

fn raw_get(db: &Database, key: &str) -> Option<Vec<u8>> {
    let txn = db.begin_read().expect("read");
    let t = txn.open_table(RAW).expect("table");
    let v = t.get(("bench", key)).expect("get")?;
    let v = v.value();
    let stale = i64::from_le_bytes(v[..8].try_into().expect("8 bytes"));
    (stale > now_ms()).then(|| v[8..].to_vec())
}

struct Sides {
    _dir: tempfile::TempDir,
    store: RedbStore,
    raw: Database,
    runtime: tokio::runtime::Runtime,
}

fn sides() -> Sides {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path().join("store.redb")).expect("open");
    let raw = Database::create(dir.path().join("raw.redb")).expect("raw");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    fill(&runtime, &store, ROWS, PAYLOAD, 5000);
    raw_fill(&raw, ROWS, PAYLOAD, 0);
    Sides { _dir: dir, store, raw, runtime }
}

fn single_ops(c: &mut Criterion) {
    let s = sides();
    let payload = Bytes::from(vec![0xa5u8; PAYLOAD]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    let mut key = stride_keys(ROWS);
    let side =
        StoreSide { runtime: &s.runtime, store: &s.store, payload: payload.clone(), options };

    let mut g = c.benchmark_group("redb_get");
    side.get(&mut g, &mut key, true);
    g.bench_function("raw", |b| b.iter(|| assert!(raw_get(&s.raw, &key()).is_some())));
    g.finish();

    let mut g = c.benchmark_group("redb_set");
    side.set(&mut g, &mut key);
    g.bench_function("raw", |b| b.iter(|| raw_set(&s.raw, &key(), &payload)));
    g.finish();

    let mut g = c.benchmark_group("redb_set_many_100");
    side.set_many(&mut g, &mut key, 100);
    g.bench_function("raw", |b| {
        b.iter_batched(
            || (0..100).map(|_| key()).collect::<Vec<_>>(),
            |keys| {
                let txn = s.raw.begin_write().expect("txn");
                {
                    let mut t = txn.open_table(RAW).expect("table");
                    let stale = now_ms() + 3_600_000;
                    for k in &keys {
                        t.insert(("bench", k.as_str()), raw_value(stale, &payload).as_slice())
                            .expect("insert");
                    }
                }
                txn.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 25;

/// 8 concurrent durable writers: the store's group commit against raw redb
/// with one durable commit per write (redb serialises writers).
fn concurrent_writers(c: &mut Criterion) {
    let s = sides();
    let store = Arc::new(s.store.clone());
    let raw = Arc::new(s.raw);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let payload = Bytes::from(vec![0x33u8; PAYLOAD]);
    writers_group(
        c,
        "redb_writers_8_durable",
        &runtime,
        &store,
        (WRITERS, WRITES_PER_WRITER),
        &payload,
        || (),
        |(), key| raw_set(&raw, key, &payload),
    );
}

fn purge(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    let fresh = |name: &str| -> PathBuf {
        let path = dir.path().join(name);
        let _ = std::fs::remove_file(&path);
        path
    };
    let mut g = c.benchmark_group("redb_purge_50k_of_100k");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(10));
    g.bench_function("store", |b| {
        b.iter_custom(|iters| {
            let fill = || {
                let store = RedbStore::builder(fresh("s.redb"))
                    .durability(cachestore_redb::Durability::Buffered)
                    .open()
                    .expect("open");
                rt.block_on(async {
                    for batch in half_dead_batches(100_000, 10_000) {
                        store.set_many(batch).await.expect("fill");
                    }
                    store.flush().await.expect("flush");
                });
                store
            };
            timed_runs(
                iters,
                fill,
                |store| rt.block_on(store.purge_expired()).expect("purge"),
                50_000,
            )
        })
    });
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let fill = || {
                let raw = Database::create(fresh("r.redb")).expect("raw");
                raw_fill(&raw, 100_000, 100, 2);
                raw
            };
            let purge = |raw: &Database| {
                let txn = raw.begin_write().expect("txn");
                let n = {
                    let mut t = txn.open_table(RAW).expect("table");
                    let now = now_ms();
                    let dead: Vec<String> = t
                        .iter()
                        .expect("iter")
                        .filter_map(|item| {
                            let (k, v) = item.expect("item");
                            let stale = i64::from_le_bytes(v.value()[..8].try_into().expect("8"));
                            (stale <= now).then(|| k.value().1.to_owned())
                        })
                        .collect();
                    for key in &dead {
                        t.remove(("bench", key.as_str())).expect("remove");
                    }
                    dead.len() as u64
                };
                txn.commit().expect("commit");
                n
            };
            timed_runs(iters, fill, purge, 50_000)
        })
    });
    g.finish();
}

/// The file sizes after 100k durable writes of 100 bytes over 10k rows:
/// commits without a sync free pages that redb reuses only after later
/// durable commits, so the store's checkpoint policy decides how much
/// larger its file is than raw redb's with a durable commit per write.
fn space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ours, theirs) = (dir.path().join("s.redb"), dir.path().join("r.redb"));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    let store = RedbStore::open(&ours).expect("open");
    let raw = Database::create(&theirs).expect("raw");
    let payload = vec![0x11u8; 100];
    for i in 0..100_000u64 {
        let key = format!("k{}", i % 10_000);
        let options = SetOptions::for_duration(Duration::from_secs(3600));
        rt.block_on(store.set("bench", &key, Bytes::from(payload.clone()), options)).expect("set");
        raw_set(&raw, &key, &payload);
    }
    drop((store, raw));
    let mib = |p: &PathBuf| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    println!(
        "\nfile after 100k writes of 100 B over 10k rows: store {:.1} MiB (+ its log), raw {:.1} MiB: {:.2}x",
        mib(&ours),
        mib(&theirs),
        mib(&ours) / mib(&theirs)
    );
}

fn print_ratios() {
    use cachestore_test_harness::bench::{print_ratio_table, print_throughput_row};
    print_ratio_table(
        "cachestore-redb / raw redb",
        &[
            ("redb_get", "<= 1.25"),
            ("redb_set", "<= 1.15"),
            ("redb_set_many_100", "<= 1.10"),
            ("redb_purge_50k_of_100k", "(scan)"),
        ],
    );
    print_throughput_row(
        "redb_writers_8_durable",
        (WRITERS * WRITES_PER_WRITER) as f64,
        ">= 5 (thr.)",
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    single_ops(&mut c);
    concurrent_writers(&mut c);
    purge(&mut c);
    c.final_summary();
    print_ratios();
    // Also when the run is filtered to "redb_space" (or a part of it).
    let mut filters = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    if filters.all(|f| "redb_space".contains(f.as_str())) {
        space();
    }
}
