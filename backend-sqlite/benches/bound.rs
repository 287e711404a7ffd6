//! The size bound's cost on SQLite (durability normal on both sides): the
//! harness's `bound_bench` (its docs say what it measures).
//!
//! Run: `cargo bench -p cachestore-sqlite --bench bound`

use cachestore_sqlite::SqliteStore;

fn main() {
    cachestore_test_harness::bound_bench::bound_bench("cachestore-sqlite", &|path, bound| {
        let builder = SqliteStore::builder(path.with_extension("sqlite"));
        match bound {
            Some(bytes) => builder.max_bytes(bytes),
            None => builder,
        }
        .open()
        .expect("open")
    });
}
