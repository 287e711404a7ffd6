//! A blocking wrapper for callers without an async runtime.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use cachestore_core::{Error, Result, SetOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, Cached, Counters, FetchError, FetchPolicy};
use crate::codec::{Json, ValueCodec};

/// A [`Cache`] for synchronous code: it owns a small runtime, so callers
/// need none. Calling it from inside an async runtime is an
/// [`Error::Config`] (use [`Cache`] there), never a panic.
///
/// ```
/// # fn main() -> cachestore::Result<()> {
/// use std::time::Duration;
/// use cachestore::{BlockingCache, Cache, FetchPolicy};
///
/// let cache = BlockingCache::new(Cache::new(cachestore::open("memory://")?))?;
/// let policy = FetchPolicy::new(Duration::from_secs(60));
/// let v = cache.get_or_fetch("ns", "k", &policy, || Ok::<_, String>(42u32)).expect("fetched");
/// assert_eq!(v.value, 42);
/// assert_eq!(cache.get::<u32>("ns", "k")?, Some(42));
/// # Ok(()) }
/// ```
pub struct BlockingCache<C: ValueCodec = Json> {
    cache: Cache<C>,
    runtime: tokio::runtime::Runtime,
}

impl<C: ValueCodec> fmt::Debug for BlockingCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingCache").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl<C: ValueCodec> BlockingCache<C> {
    /// Wraps `cache`, starting a one-thread runtime for it.
    pub fn new(cache: Cache<C>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the blocking cache's runtime", e))?;
        Ok(BlockingCache { cache, runtime })
    }

    /// The async cache inside.
    pub fn cache(&self) -> &Cache<C> {
        &self.cache
    }

    fn block<F: Future>(&self, f: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Config {
                message: "BlockingCache was called from inside an async runtime, where blocking \
                          would stall it; use the async Cache there"
                    .into(),
            });
        }
        Ok(self.runtime.block_on(f))
    }

    /// [`Cache::get`].
    pub fn get<T: DeserializeOwned>(&self, namespace: &str, key: &str) -> Result<Option<T>> {
        self.block(self.cache.get(namespace, key))?
    }

    /// [`Cache::get_stale`].
    pub fn get_stale<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Cached<T>>> {
        self.block(self.cache.get_stale(namespace, key))?
    }

    /// [`Cache::set`].
    pub fn set<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        self.block(self.cache.set(namespace, key, value, options))?
    }

    /// [`Cache::get_or_fetch`] with a synchronous fetcher.
    pub fn get_or_fetch<T, E, F>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> std::result::Result<Cached<T>, FetchError<E>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    {
        let future =
            self.cache.get_or_fetch(namespace, key, policy, move || async move { fetch() });
        self.block(future).map_err(FetchError::Store)?
    }

    /// [`Cache::counters`].
    pub fn counters(&self, namespace: &str) -> Counters {
        self.cache.counters(namespace)
    }

    /// Purges dead rows now; returns how many went.
    pub fn purge_expired(&self) -> Result<u64> {
        self.block(self.cache.store().purge_expired())?
    }

    /// Runs the runtime for `duration`, letting background refreshes finish.
    pub fn idle(&self, duration: Duration) -> Result<()> {
        self.block(tokio::time::sleep(duration))
    }
}
