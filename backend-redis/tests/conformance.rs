//! The shared conformance suite on a real, private redis-server (or
//! `REDIS_URL`); reopen is a new connection to the same server.

mod support;

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::{Error, Result};
use cachestore_redis::RedisStore;

struct Redis;

#[async_trait]
impl StoreFactory for Redis {
    type Store = RedisStore;

    fn available(&self) -> std::result::Result<(), String> {
        support::shared().map(drop)
    }

    async fn open(&self, clock: ManualClock) -> Result<RedisStore> {
        let url = support::shared().map_err(|message| Error::Config { message })?;
        RedisStore::builder(url).prefix(support::unique_prefix()).clock(clock).open().await
    }

    async fn reopen(&self, store: RedisStore, clock: ManualClock) -> Result<RedisStore> {
        let url = support::shared().map_err(|message| Error::Config { message })?;
        let prefix = store.prefix().to_owned();
        drop(store);
        RedisStore::builder(url).prefix(prefix).clock(clock).open().await
    }
}

conformance_tests!(Redis, persistent);
