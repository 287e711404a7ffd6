//! The size bound's cost on redb (durability immediate on both sides: each
//! write syncs its log record): the harness's `bound_bench` (its docs say
//! what it measures).
//!
//! Run: `cargo bench -p cachestore-redb --bench bound`

use cachestore_redb::RedbStore;

fn main() {
    cachestore_test_harness::bound_bench::bound_bench("cachestore-redb", &|path, bound| {
        let builder = RedbStore::builder(path.with_extension("redb"));
        match bound {
            Some(bytes) => builder.max_bytes(bytes),
            None => builder,
        }
        .open()
        .expect("open")
    });
}
