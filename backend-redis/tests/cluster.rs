//! The shared conformance suite on a 3-master Redis Cluster started on
//! loopback (`redis-server --cluster-enabled yes` and
//! `redis-cli --cluster create`).

mod support;

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::{Error, Result};
use cachestore_redis::RedisStore;

struct Cluster;

#[async_trait]
impl StoreFactory for Cluster {
    type Store = RedisStore;

    fn available(&self) -> std::result::Result<(), String> {
        support::cluster().map(drop)
    }

    async fn open(&self, clock: ManualClock) -> Result<RedisStore> {
        let url = support::cluster().map_err(|message| Error::Config { message })?;
        RedisStore::builder(url)
            .cluster(true)
            .prefix(support::unique_prefix())
            .clock(clock)
            .open()
            .await
    }

    async fn reopen(&self, store: RedisStore, clock: ManualClock) -> Result<RedisStore> {
        let url = support::cluster().map_err(|message| Error::Config { message })?;
        let prefix = store.prefix().to_owned();
        drop(store);
        RedisStore::builder(url).cluster(true).prefix(prefix).clock(clock).open().await
    }
}

conformance_tests!(Cluster, persistent);

/// On a cluster, rows of one `set_many` are written concurrently; items for
/// the same identity must still leave the last one behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn set_many_with_duplicates_keeps_the_last_item_on_a_cluster() {
    use cachestore_core::{CacheStore, SetItem, SetOptions};
    if !cachestore_conformance::should_run(
        &Cluster,
        "set_many_with_duplicates_keeps_the_last_item_on_a_cluster",
    ) {
        return;
    }
    let url = support::cluster().expect("cluster");
    let store = RedisStore::builder(url)
        .cluster(true)
        .prefix(support::unique_prefix())
        .open()
        .await
        .expect("open");
    for round in 0..50 {
        let items = (0..10)
            .map(|i| {
                SetItem::new(format!("ns{}", i % 3), "k", format!("{round}-{i}"), SetOptions::new())
            })
            .chain(
                (0..10)
                    .map(|i| SetItem::new("same", "k", format!("{round}-{i}"), SetOptions::new())),
            )
            .collect();
        store.set_many(items).await.expect("set_many");
        let row = store.get("same", "k").await.expect("get").expect("row");
        assert_eq!(
            row.payload,
            format!("{round}-9").as_bytes(),
            "round {round}: an earlier item won"
        );
    }
}
