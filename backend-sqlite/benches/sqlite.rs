//! cachestore-sqlite against raw rusqlite doing the same work, in one run.
//!
//! Raw uses a connection of its own on a file of the same layout (created by
//! the store), the same pragmas (WAL, `synchronous`, busy timeout) and
//! prepared, cached statements: what a careful hand-written cache does.
//! Payloads are 1 KiB, 10k rows; each side has its own, identically filled file. At the end a table of median ratios
//! (store / raw; for throughput raw / store time) is printed from criterion's
//! own estimates.
//!
//! Run: `cargo bench -p cachestore-sqlite --bench sqlite`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_sqlite::{Durability, SqliteStore};
use cachestore_test_harness::bench::{
    StoreSide, fill, half_dead_batches, stride_keys, timed_runs, writers_group,
};
use criterion::{BatchSize, Criterion, SamplingMode};
use rusqlite::{Connection, params};

const ROWS: u64 = 10_000;
const PAYLOAD: usize = 1024;

const UPSERT: &str = "INSERT INTO cache_rows (namespace, key, stored_at, expires_at, stale_until, \
     payload_len, version, checksum, headers, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, x'', ?7) \
     ON CONFLICT (namespace, key) DO UPDATE SET stored_at = excluded.stored_at, \
     expires_at = excluded.expires_at, stale_until = excluded.stale_until, \
     payload_len = excluded.payload_len, checksum = excluded.checksum, \
     headers = excluded.headers, payload = excluded.payload";
const SELECT: &str = "SELECT stored_at, expires_at, stale_until, checksum, headers, payload \
     FROM cache_rows WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn raw(path: &Path, durability: Durability) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    conn.busy_timeout(Duration::from_secs(30)).expect("busy");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    let sync = if durability == Durability::Full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync).expect("sync");
    conn
}

fn raw_set(conn: &Connection, key: &str, payload: &[u8]) {
    let now = now_ms();
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    conn.prepare_cached(UPSERT)
        .and_then(|mut s| {
            s.execute(params![
                b"bench",
                key.as_bytes(),
                now,
                now + 3_600_000,
                now + 3_600_000,
                payload.len() as i64,
                payload
            ])
        })
        .expect("upsert");
    conn.execute_batch("COMMIT").expect("commit");
}

fn raw_get(conn: &Connection, key: &str) -> Option<(i64, Vec<u8>, Vec<u8>)> {
    let mut stmt = conn.prepare_cached(SELECT).expect("prepare");
    let mut rows = stmt.query(params![b"bench", key.as_bytes(), now_ms()]).expect("query");
    rows.next()
        .expect("step")
        .map(|r| (r.get(0).expect("c"), r.get(4).expect("h"), r.get(5).expect("p")))
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    fill(&runtime, &store, ROWS, PAYLOAD, 1000);
    Fixture { _dir: dir, path, store, runtime }
}

fn single_ops(c: &mut Criterion) {
    // Each side works on its own, identically filled file: on a shared file
    // whichever ran second would pay for the first one's log growth.
    let f = fixture();
    let raw_file = fixture();
    let conn = raw(&raw_file.path, Durability::Normal);
    let payload = Bytes::from(vec![0xa5u8; PAYLOAD]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    let mut key = stride_keys(ROWS);
    let side =
        StoreSide { runtime: &f.runtime, store: &f.store, payload: payload.clone(), options };

    let mut g = c.benchmark_group("get_hit");
    side.get(&mut g, &mut key, true);
    g.bench_function("raw", |b| b.iter(|| assert!(raw_get(&conn, &key()).is_some())));
    g.finish();

    let mut g = c.benchmark_group("get_miss");
    side.get(&mut g, &mut || "absent".to_owned(), false);
    g.bench_function("raw", |b| b.iter(|| assert!(raw_get(&conn, "absent").is_none())));
    g.finish();

    let mut g = c.benchmark_group("set");
    side.set(&mut g, &mut key);
    g.bench_function("raw", |b| b.iter(|| raw_set(&conn, &key(), &payload)));
    g.finish();

    let mut g = c.benchmark_group("set_many_100");
    side.set_many(&mut g, &mut key, 100);
    g.bench_function("raw", |b| {
        b.iter_batched(
            || (0..100).map(|_| key()).collect::<Vec<_>>(),
            |keys| {
                let now = now_ms();
                conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
                let mut stmt = conn.prepare_cached(UPSERT).expect("prepare");
                for k in &keys {
                    stmt.execute(params![
                        b"bench",
                        k.as_bytes(),
                        now,
                        now + 3_600_000,
                        now + 3_600_000,
                        PAYLOAD as i64,
                        &payload[..]
                    ])
                    .expect("upsert");
                }
                drop(stmt);
                conn.execute_batch("COMMIT").expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// 100k rows of 100 bytes, half of them dead, in a template file copied
/// before each purge so that only the purge is timed.
fn purge(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = dir.path().join("template.sqlite");
    {
        let store = SqliteStore::open(&template).expect("open");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        rt.block_on(async {
            for batch in half_dead_batches(100_000, 5000) {
                store.set_many(batch).await.expect("fill");
            }
        });
        store.checkpoint().expect("checkpoint");
    }
    let copy = |name: &str| {
        let path = dir.path().join(name);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        std::fs::copy(&template, &path).expect("copy");
        path
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    let mut g = c.benchmark_group("purge_50k_of_100k");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(4));
    g.bench_function("store", |b| {
        b.iter_custom(|iters| {
            timed_runs(
                iters,
                || SqliteStore::open(copy("s.sqlite")).expect("open"),
                |store| rt.block_on(store.purge_expired()).expect("purge"),
                50_000,
            )
        })
    });
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let purge = |conn: &Connection| {
                conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
                let n = conn
                    .execute("DELETE FROM cache_rows WHERE stale_until <= ?1", [now_ms()])
                    .expect("purge");
                conn.execute_batch("COMMIT").expect("commit");
                n as u64
            };
            timed_runs(iters, || raw(&copy("r.sqlite"), Durability::Normal), purge, 50_000)
        })
    });
    g.finish();
}

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 50;

/// 8 concurrent durable writers (`synchronous=FULL`): the store's group
/// commit against raw rusqlite with one transaction (one fsync) per write.
fn concurrent_writers(c: &mut Criterion) {
    let f = fixture();
    let raw_file = fixture();
    let store =
        Arc::new(SqliteStore::builder(&f.path).durability(Durability::Full).open().expect("open"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let payload = Bytes::from(vec![0x33u8; PAYLOAD]);
    writers_group(
        c,
        "writers_8_durable",
        &runtime,
        &store,
        (WRITERS, WRITES_PER_WRITER),
        &payload,
        || raw(&raw_file.path, Durability::Full),
        |conn, key| raw_set(conn, key, &payload),
    );
}

fn print_ratios() {
    use cachestore_test_harness::bench::{print_ratio_table, print_throughput_row};
    print_ratio_table(
        "cachestore-sqlite / raw rusqlite",
        &[
            ("get_hit", "<= 1.25"),
            ("get_miss", "<= 1.25"),
            ("set", "<= 1.15"),
            ("set_many_100", "<= 1.10"),
            ("purge_50k_of_100k", "<= 1.20"),
        ],
    );
    print_throughput_row("writers_8_durable", (WRITERS * WRITES_PER_WRITER) as f64, ">= 4 (thr.)");
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    single_ops(&mut c);
    purge(&mut c);
    concurrent_writers(&mut c);
    c.final_summary();
    print_ratios();
}
