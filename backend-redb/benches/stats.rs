//! `stats()` against a raw scan of a redb table of the same rows (a value
//! of its expiry, headers and payload under a `(namespace, key)` key,
//! counted per namespace reading each value's expiry): the harness's
//! `stats_bench`.
//!
//! Run: `cargo bench -p cachestore-redb --bench stats`
//! (`CACHESTORE_BENCH_STATS_ROWS=100000` for one size).

use std::collections::HashMap;

use cachestore_redb::RedbStore;
use cachestore_test_harness::stats_bench::{self, PAYLOAD, fill, identity, sizes};
use criterion::Criterion;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const RAW: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("raw");

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn raw_file(path: &std::path::Path, rows: u64) -> Database {
    let db = Database::create(path).expect("raw create");
    let mut value = (now_ms() + 3_600_000).to_le_bytes().to_vec();
    value.extend_from_slice(&[1u8; 90]);
    value.extend_from_slice(&[0x5a; PAYLOAD]);
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1_000) {
        let txn = db.begin_write().expect("begin");
        {
            let mut table = txn.open_table(RAW).expect("table");
            for &i in chunk {
                let (ns, key) = identity(i);
                table.insert((ns, key.as_str()), value.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    db
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    for rows in sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path().join("store.redb")).expect("open");
        fill(&rt, &store, rows);
        let raw = raw_file(&dir.path().join("raw.redb"), rows);
        let count = || -> u64 {
            let txn = raw.begin_read().expect("read");
            let table = txn.open_table(RAW).expect("table");
            let now = now_ms();
            let mut per_ns: HashMap<String, (u64, u64)> = HashMap::new();
            for item in table.iter().expect("iter") {
                let (k, v) = item.expect("row");
                let v = v.value();
                let mut at = [0u8; 8];
                at.copy_from_slice(&v[..8]);
                if i64::from_le_bytes(at) > now {
                    let (ns, _) = k.value();
                    let e = match per_ns.get_mut(ns) {
                        Some(e) => e,
                        None => per_ns.entry(ns.to_owned()).or_default(),
                    };
                    e.0 += 1;
                    e.1 += (v.len() - 98) as u64;
                }
            }
            per_ns.values().map(|e| e.0).sum()
        };
        stats_bench::group(&mut c, &rt, rows, &store, &count);
    }
    c.final_summary();
    stats_bench::print("cachestore-redb stats / raw scan", "<= 1.0");
}
