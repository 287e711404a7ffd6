//! Durable writes leave the runtime thread free: on a current-thread
//! runtime (the default of `#[tokio::test]`), another task keeps running
//! while one task awaits 1,000 durable sets (durability full). When the commit
//! and its fsync ran on the caller's thread, that task ran 0 times.

use cachestore_sqlite::{Durability, SqliteStore};
use cachestore_test_harness::runtime::ticks_during_writes;

#[tokio::test]
async fn durable_writes_leave_a_current_thread_runtime_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::builder(dir.path().join("a.sqlite"))
        .durability(Durability::Full)
        .open()
        .expect("open");
    let (ticks, worst) = ticks_during_writes(&store, 1_000).await;
    println!(
        "sqlite: the ticker ran {ticks} times during 1,000 durable sets; longest wait {worst:?}"
    );
    // Each awaited write that leaves the thread lets the ticker run at least
    // once; a write that blocks it, never.
    assert!(ticks >= 500, "the ticker ran {ticks} times during 1,000 durable sets");
}
