//! 16 tasks × 5,000 operations on one handle (a multi-threaded runtime, so
//! reads, inline writes and group commits overlap): every row read is whole
//! and every task's last write is what remains.

use std::sync::Arc;

use cachestore_core::{Bytes, CacheStore, SetOptions};
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
    let mut tasks = Vec::new();
    for task in 0..16u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            for op in 0..5_000u64 {
                let value = format!("{task}:{op}");
                let shared = format!("k{}", (op / 4) % 16);
                match op % 4 {
                    0 => {
                        let options = SetOptions::new().header("v", value.clone());
                        store
                            .set("shared", &shared, Bytes::from(value), options)
                            .await
                            .expect("set");
                    }
                    1 => {
                        let options = SetOptions::new().header("v", value.clone());
                        store
                            .set("own", &format!("t{task}"), Bytes::from(value.clone()), options)
                            .await
                            .expect("set");
                        last = Some(value);
                    }
                    2 => {
                        if let Some(row) = store.get("shared", &shared).await.expect("get") {
                            assert_eq!(row.payload, row.headers["v"].as_bytes(), "a torn row");
                        }
                    }
                    _ => {
                        let row = store.get("own", &format!("t{task}")).await.expect("get");
                        assert_eq!(
                            row.map(|r| r.payload),
                            last.clone().map(Bytes::from),
                            "lost own write"
                        );
                    }
                }
            }
            last
        }));
    }
    for (task, t) in tasks.into_iter().enumerate() {
        let last = t.await.expect("task");
        let row = store.get("own", &format!("t{task}")).await.expect("get");
        assert_eq!(row.map(|r| r.payload), last.map(Bytes::from));
    }
    assert_eq!(store.stats().await.expect("stats").fresh, 32);
    store.integrity_check().await.expect("sound after the load");
}
