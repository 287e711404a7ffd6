//! `stats()` against a raw `GROUP BY` on a minimal table (namespace, key,
//! expiry, headers, payload; its primary key and no other index), both in
//! WAL mode with the same rows: the harness's `stats_bench`.
//!
//! Run: `cargo bench -p cachestore-sqlite --bench stats`
//! (`CACHESTORE_BENCH_STATS_ROWS=100000` for one size).

use cachestore_sqlite::SqliteStore;
use cachestore_test_harness::stats_bench::{self, PAYLOAD, fill, identity, sizes};
use criterion::Criterion;
use rusqlite::{Connection, params};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn raw_file(path: &std::path::Path, rows: u64) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
    conn.execute_batch(
        "CREATE TABLE cache (namespace TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER, \
         headers BLOB NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (namespace, key))",
    )
    .expect("schema");
    let (headers, payload) = (vec![1u8; 90], vec![0x5au8; PAYLOAD]);
    let expires = now_ms() + 3_600_000;
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1_000) {
        conn.execute_batch("BEGIN").expect("begin");
        let mut insert =
            conn.prepare_cached("INSERT INTO cache VALUES (?1, ?2, ?3, ?4, ?5)").expect("prepare");
        for &i in chunk {
            let (ns, key) = identity(i);
            insert.execute(params![ns, key, expires, headers, payload]).expect("insert");
        }
        drop(insert);
        conn.execute_batch("COMMIT").expect("commit");
    }
    conn
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    for rows in sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("store.sqlite")).expect("open");
        fill(&rt, &store, rows);
        let raw = raw_file(&dir.path().join("raw.sqlite"), rows);
        let count = || -> u64 {
            let mut stmt = raw
                .prepare_cached(
                    "SELECT namespace, count(*), sum(length(payload)) FROM cache \
                     WHERE expires_at IS NULL OR expires_at > ?1 GROUP BY namespace",
                )
                .expect("prepare");
            let mut rows = stmt.query([now_ms()]).expect("query");
            let mut n = 0;
            while let Some(row) = rows.next().expect("step") {
                n += row.get::<_, i64>(1).expect("count") as u64;
            }
            n
        };
        stats_bench::group(&mut c, &rt, rows, &store, &count);
    }
    c.final_summary();
    stats_bench::print("cachestore-sqlite stats / raw GROUP BY", "<= 0.5");
}
