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
