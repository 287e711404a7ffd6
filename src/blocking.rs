//! A blocking wrapper for callers without an async runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use cachestore_core::{Error, Page, Result, ScanCursor, SetOptions, Stats};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Attempt, Begin, Cache, Pending, Purger};
use crate::codec::{Json, ValueCodec};
use crate::counters::Counters;
use crate::fetch::{Cached, FetchContext, FetchError, FetchPolicy, Fetched};

/// A [`Cache`] for synchronous code: the whole surface of [`Cache`] and the
/// store's maintenance calls, blocking.
///
/// - It owns a runtime with one thread of its own, where background work
///   runs (stale-while-revalidate and eager refreshes, the purger): it
///   goes on between calls, the caller need not lend it time.
/// - A fetcher runs on the caller's thread, outside any runtime, so a sync
///   HTTP client that starts its own runtime (such as `reqwest::blocking`)
///   works; a background refresh runs it on a thread of the cache's own.
/// - Called from inside an async runtime (where blocking would stall it),
///   every method returns [`Error::Config`] (or [`FetchError::Store`]) and
///   never panics: use [`Cache`] there.
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
/// cache.shutdown()?;
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

type FetchResult<T, E> = std::result::Result<Cached<T>, FetchError<E>>;

impl<C: ValueCodec> BlockingCache<C> {
    /// Wraps `cache`, starting a runtime with one worker thread for it.
    pub fn new(cache: Cache<C>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cachestore-blocking")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the blocking cache's runtime", e))?;
        Ok(BlockingCache { cache, runtime })
    }

    /// The async cache inside.
    pub fn cache(&self) -> &Cache<C> {
        &self.cache
    }

    fn block<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
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

    /// [`Cache::get_fresh`].
    pub fn get_fresh<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Cached<T>>> {
        self.block(self.cache.get_fresh(namespace, key))?
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

    /// [`Cache::delete`].
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        self.block(self.cache.delete(namespace, key))?
    }

    /// [`Cache::invalidate_tag`]: removes every row carrying `tag`.
    pub fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        self.block(self.cache.invalidate_tag(tag))?
    }

    /// Deletes every row of `namespace`; returns how many went.
    pub fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        self.block(self.cache.store().clear_namespace(namespace))?
    }

    /// Deletes every row; returns how many went.
    pub fn clear_all(&self) -> Result<u64> {
        self.block(self.cache.store().clear_all())?
    }

    /// Purges dead rows now; returns how many went.
    pub fn purge_expired(&self) -> Result<u64> {
        self.block(self.cache.store().purge_expired())?
    }

    /// The store's statistics ([`CacheStore::stats`](crate::CacheStore::stats)).
    pub fn stats(&self) -> Result<Stats> {
        self.block(self.cache.store().stats())?
    }

    /// One page of rows, of one namespace or all, after `after`
    /// ([`CacheStore::scan`](crate::CacheStore::scan)).
    pub fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        self.block(self.cache.store().scan(namespace, after, limit))?
    }

    /// [`Cache::counters`].
    pub fn counters(&self, namespace: &str) -> Counters {
        self.cache.counters(namespace)
    }

    /// [`Cache::all_counters`].
    pub fn all_counters(&self) -> BTreeMap<String, Counters> {
        self.cache.all_counters()
    }

    /// [`Cache::get_or_fetch`] with a synchronous fetcher.
    pub fn get_or_fetch<T, E, F>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    {
        self.get_or_fetch_with(namespace, key, policy, move |_| fetch().map(Fetched::value))
    }

    /// [`Cache::get_or_fetch_with`] with a synchronous fetcher. It runs on
    /// the caller's thread (outside any runtime), or, for a background
    /// refresh, on a thread of the cache's own. The policy's timeouts do not
    /// apply to a synchronous fetcher (give its client its own timeouts).
    pub fn get_or_fetch_with<T, E, F>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce(FetchContext) -> std::result::Result<Fetched<T>, E> + Send + 'static,
    {
        let background = !self.cache.is_shut_down();
        let begun = self.block(self.cache.begin::<T, E>(namespace, key, policy, background));
        let pending = match begun.map_err(FetchError::Store)?? {
            Begin::Done(c) => return Ok(c),
            Begin::Refresh(c) => {
                let handle = self.runtime.handle().clone();
                self.cache.refresh(&handle, namespace, key, policy, move |ctx| async move {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let spawned = std::thread::Builder::new()
                        .name("cachestore-refresh".into())
                        .spawn(move || {
                            let _ = tx.send(fetch(ctx));
                        });
                    if spawned.is_err() {
                        return None;
                    }
                    rx.await.ok().map(Attempt::Done)
                });
                return Ok(c);
            }
            Begin::Fetch(p) => p,
        };
        self.fetch_here(pending, policy, fetch)
    }

    /// Runs `fetch` on the caller's thread, outside the runtime, and stores
    /// what it returns.
    fn fetch_here<T, E>(
        &self,
        pending: Box<Pending>,
        policy: &FetchPolicy,
        fetch: impl FnOnce(FetchContext) -> std::result::Result<Fetched<T>, E>,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
    {
        let result = fetch(pending.context());
        let done = self.block(self.cache.complete(pending, policy, Attempt::Done(result)));
        done.map_err(FetchError::Store)?
    }

    /// [`Cache::get_or_fetch_borrowed`] with a synchronous fetcher that may
    /// borrow: it always runs on the caller's thread, and what needs the
    /// background is done in the foreground (see there).
    pub fn get_or_fetch_borrowed<T, E, F>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnOnce(FetchContext) -> std::result::Result<Fetched<T>, E>,
    {
        let begun = self.block(self.cache.begin::<T, E>(namespace, key, policy, false));
        let pending = match begun.map_err(FetchError::Store)?? {
            Begin::Done(c) | Begin::Refresh(c) => return Ok(c),
            Begin::Fetch(p) => p,
        };
        self.fetch_here(pending, policy, fetch)
    }

    /// Starts a purger on the cache's own thread
    /// ([`Cache::spawn_purger`]); it runs between calls.
    pub fn spawn_purger(&self, interval: Duration) -> Result<Purger> {
        self.cache.purger_on(self.runtime.handle(), interval)
    }

    /// Blocks for `duration` (background work goes on meanwhile, as it does
    /// between calls).
    pub fn idle(&self, duration: Duration) -> Result<()> {
        self.block(async move { tokio::time::sleep(duration).await })
    }

    /// Waits until no background work is running ([`Cache::wait_background`]).
    pub fn wait_background(&self) -> Result<()> {
        self.block(self.cache.wait_background())
    }

    /// [`Cache::shutdown`]: no new background work; waits for what runs.
    pub fn shutdown(&self) -> Result<()> {
        self.block(self.cache.shutdown())
    }
}
