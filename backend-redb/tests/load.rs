//! 16 tasks × 5,000 operations on one handle (a multi-threaded runtime, so
//! reads, inline writes and group commits overlap): the suite's concurrency
//! check with five times the operations.

use std::sync::Arc;

use cachestore_redb::{Durability, RedbStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_times_five_thousand_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Buffered commits keep this test quick; durability has its own tests.
    let store = RedbStore::builder(dir.path().join("cache.redb"))
        .durability(Durability::Buffered)
        .open()
        .expect("open");
    let store = Arc::new(store);
    cachestore_conformance::behaviours::concurrent_tasks(Arc::clone(&store), 16, 5_000).await;
    store.integrity_check().await.expect("sound after the load");
}
