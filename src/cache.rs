//! The typed [`Cache`] handle, written once for every backend.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use cachestore_core::{Bytes, CacheStore, Entry, Error, Headers, Result, SetOptions, Ttl};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Json, ValueCodec};

/// The header that marks a cached failure (negative caching).
pub const NEGATIVE_HEADER: &str = "x-cachestore-negative";
/// The header that names the codec a row was written with.
pub const CODEC_HEADER: &str = "x-cachestore-codec";

/// Default TTLs per category: `metadata` 72 h, `list` 24 h, `schedule` and
/// `trending` 1 h, `offline_dump` 30 d. An unknown category gets
/// `metadata`'s TTL. All configurable with [`CacheBuilder::ttl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categories {
    ttls: BTreeMap<String, Duration>,
}

impl Default for Categories {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * 3600);
        let ttls = [
            ("metadata", h(72)),
            ("list", h(24)),
            ("schedule", h(1)),
            ("trending", h(1)),
            ("offline_dump", h(30 * 24)),
        ];
        Categories { ttls: ttls.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
    }
}

impl Categories {
    /// The TTL of `category`; an unknown one gets `metadata`'s.
    pub fn ttl(&self, category: &str) -> Duration {
        self.ttls
            .get(category)
            .or_else(|| self.ttls.get("metadata"))
            .copied()
            .unwrap_or(Duration::from_secs(72 * 3600))
    }

    /// Sets the TTL of `category`.
    pub fn set(&mut self, category: impl Into<String>, ttl: Duration) {
        self.ttls.insert(category.into(), ttl);
    }
}

/// Which headers are stripped before a row is stored, so that secrets never
/// reach the cache. Names match case-insensitively.
///
/// The default strips `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Set-Cookie` and `X-Api-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    names: BTreeSet<String>,
}

impl Default for Redaction {
    fn default() -> Self {
        let names = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];
        Redaction { names: names.into_iter().map(str::to_owned).collect() }
    }
}

impl Redaction {
    /// Strips nothing.
    pub fn none() -> Self {
        Redaction { names: BTreeSet::new() }
    }

    /// Also strips `name`.
    pub fn strip(mut self, name: &str) -> Self {
        self.names.insert(name.to_ascii_lowercase());
        self
    }

    /// No longer strips `name`.
    pub fn keep(mut self, name: &str) -> Self {
        self.names.remove(&name.to_ascii_lowercase());
        self
    }

    /// Removes the redacted headers from `headers`.
    pub fn apply(&self, headers: &mut Headers) {
        if !self.names.is_empty() {
            headers.retain(|name, _| !self.names.contains(&name.to_ascii_lowercase()));
        }
    }
}

/// How [`Cache::get_or_fetch`] caches what it fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a policy does nothing until it is passed to `get_or_fetch`"]
pub struct FetchPolicy {
    /// How long a fetched value is fresh.
    pub ttl: Ttl,
    /// How long after that it may still be served stale when a fetch fails.
    pub stale_for: Duration,
    /// Cache a failed fetch for this long (negative caching): calls within
    /// it fail at once without calling the fetcher. `None`: do not.
    pub negative_ttl: Option<Duration>,
    /// Serve a stale value at once and refresh it in the background.
    pub stale_while_revalidate: bool,
    /// Headers stored with the value (after redaction).
    pub headers: Headers,
}

impl FetchPolicy {
    /// Fresh for `ttl`, no stale window, no negative caching.
    pub fn new(ttl: Duration) -> Self {
        Self::with_ttl(Ttl::For(ttl))
    }

    /// Fetched values never expire (failures still follow
    /// [`FetchPolicy::negative_ttl`]).
    pub fn forever() -> Self {
        Self::with_ttl(Ttl::Never)
    }

    /// With any [`Ttl`].
    pub fn with_ttl(ttl: Ttl) -> Self {
        FetchPolicy {
            ttl,
            stale_for: Duration::ZERO,
            negative_ttl: None,
            stale_while_revalidate: false,
            headers: Headers::new(),
        }
    }

    /// Sets [`FetchPolicy::stale_for`].
    pub fn stale_for(mut self, window: Duration) -> Self {
        self.stale_for = window;
        self
    }

    /// Sets [`FetchPolicy::negative_ttl`].
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Sets [`FetchPolicy::stale_while_revalidate`].
    pub fn stale_while_revalidate(mut self, on: bool) -> Self {
        self.stale_while_revalidate = on;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// A value from the cache, with where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Cached<T> {
    /// The value.
    pub value: T,
    /// `false` when it is served stale (its TTL has passed).
    pub fresh: bool,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// How old it is, by the store's clock.
    pub age: Duration,
    /// Its headers.
    pub headers: Headers,
}

/// Why [`Cache::get_or_fetch`] returned no value.
#[derive(Debug)]
pub enum FetchError<E> {
    /// The fetcher failed and no stale value was there.
    Fetch(E),
    /// An earlier fetch failed and its failure is cached (negative caching)
    /// until `until`; the fetcher was not called.
    Cached {
        /// The earlier failure, as text.
        message: String,
        /// When the fetcher may be called again.
        until: Option<SystemTime>,
    },
    /// The store failed.
    Store(Error),
}

impl<E: fmt::Display> fmt::Display for FetchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Fetch(e) => write!(f, "fetch failed: {e}"),
            FetchError::Cached { message, .. } => {
                write!(f, "fetch failed earlier (cached): {message}")
            }
            FetchError::Store(e) => write!(f, "cache store failed: {e}"),
        }
    }
}

/// The source of [`FetchError::Store`] is the store's [`Error`]; a
/// fetcher's own error is in [`FetchError::Fetch`] (its type need not be an
/// error type, so it is not a `source`).
impl<E: fmt::Debug + fmt::Display> std::error::Error for FetchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Store(e) => Some(e),
            FetchError::Fetch(_) | FetchError::Cached { .. } => None,
        }
    }
}

/// Per-namespace counters of a [`Cache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Fresh values returned.
    pub hits: u64,
    /// Lookups that found no usable fresh value.
    pub misses: u64,
    /// Stale values returned (stale-if-error, stale-while-revalidate).
    pub stale_served: u64,
    /// Fetches that failed.
    pub fetch_errors: u64,
    /// Stored values that failed to decode (treated as misses).
    pub decode_errors: u64,
}

#[derive(Default)]
struct AtomicCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    fetch_errors: AtomicU64,
    decode_errors: AtomicU64,
}

impl AtomicCounters {
    fn snapshot(&self) -> Counters {
        Counters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            fetch_errors: self.fetch_errors.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
        }
    }
}

type Flight = Arc<tokio::sync::Mutex<()>>;

struct Inner<C> {
    store: Arc<dyn CacheStore>,
    codec: C,
    categories: Categories,
    redaction: Redaction,
    counters: Mutex<HashMap<String, Arc<AtomicCounters>>>,
    flights: Mutex<HashMap<(String, String), Flight>>,
}

/// A typed cache over any [`CacheStore`]: values through a [`ValueCodec`],
/// `get_or_fetch` with single-flight, stale-if-error, negative caching and
/// stale-while-revalidate, TTLs by category, header redaction and
/// per-namespace counters. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore::Result<()> {
/// use std::time::Duration;
/// use cachestore::{Cache, FetchPolicy};
///
/// let cache = Cache::new(cachestore::open("memory://")?);
/// let policy = cache.policy("metadata"); // 72 h
/// let movie = cache
///     .get_or_fetch("tmdb", "movie/603", &policy, || async { Ok::<_, String>("The Matrix".to_owned()) })
///     .await
///     .expect("fetched");
/// assert_eq!(movie.value, "The Matrix");
/// assert_eq!(cache.get::<String>("tmdb", "movie/603").await?.as_deref(), Some("The Matrix"));
/// # Ok(()) }
/// ```
pub struct Cache<C: ValueCodec = Json> {
    inner: Arc<Inner<C>>,
}

impl<C: ValueCodec> Clone for Cache<C> {
    fn clone(&self) -> Self {
        Cache { inner: Arc::clone(&self.inner) }
    }
}

impl<C: ValueCodec> fmt::Debug for Cache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("codec", &C::NAME).finish_non_exhaustive()
    }
}

/// Builds a [`Cache`].
#[must_use = "a builder does nothing until `build()`"]
pub struct CacheBuilder<C: ValueCodec = Json> {
    store: Arc<dyn CacheStore>,
    codec: C,
    categories: Categories,
    redaction: Redaction,
}

impl<C: ValueCodec> CacheBuilder<C> {
    /// Uses `codec` for values. Default: [`Json`].
    pub fn codec<D: ValueCodec>(self, codec: D) -> CacheBuilder<D> {
        CacheBuilder {
            store: self.store,
            codec,
            categories: self.categories,
            redaction: self.redaction,
        }
    }

    /// Sets the TTL of a category.
    pub fn ttl(mut self, category: impl Into<String>, ttl: Duration) -> Self {
        self.categories.set(category, ttl);
        self
    }

    /// Sets the header redaction policy. Default: [`Redaction::default`].
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Builds the cache.
    pub fn build(self) -> Cache<C> {
        Cache {
            inner: Arc::new(Inner {
                store: self.store,
                codec: self.codec,
                categories: self.categories,
                redaction: self.redaction,
                counters: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Cache<Json> {
    /// A JSON cache over `store` with the default categories and redaction.
    pub fn new(store: Arc<dyn CacheStore>) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`.
    pub fn builder(store: Arc<dyn CacheStore>) -> CacheBuilder<Json> {
        CacheBuilder {
            store,
            codec: Json,
            categories: Categories::default(),
            redaction: Redaction::default(),
        }
    }
}

enum Lookup<T> {
    Fresh(Cached<T>),
    Stale(Cached<T>),
    Negative { message: String, until: Option<SystemTime> },
    Miss,
}

impl<C: ValueCodec> Cache<C> {
    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn CacheStore> {
        &self.inner.store
    }

    /// A fetch policy with `category`'s TTL (see [`Categories`]).
    pub fn policy(&self, category: &str) -> FetchPolicy {
        FetchPolicy::new(self.inner.categories.ttl(category))
    }

    /// The TTL of `category`.
    pub fn category_ttl(&self, category: &str) -> Duration {
        self.inner.categories.ttl(category)
    }

    /// The counters of `namespace`.
    pub fn counters(&self, namespace: &str) -> Counters {
        self.inner
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
            .map(|c| c.snapshot())
            .unwrap_or_default()
    }

    /// The counters of every namespace this cache has seen.
    pub fn all_counters(&self) -> BTreeMap<String, Counters> {
        let counters = self.inner.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.iter().map(|(ns, c)| (ns.clone(), c.snapshot())).collect()
    }

    fn count(&self, namespace: &str) -> Arc<AtomicCounters> {
        let mut counters = self.inner.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(counters.entry(namespace.to_owned()).or_default())
    }

    fn now(&self) -> SystemTime {
        self.inner.store.clock().now()
    }

    fn to_cached<T: DeserializeOwned>(
        &self,
        namespace: &str,
        entry: Entry,
        count: bool,
    ) -> Option<Cached<T>> {
        match self.inner.codec.decode(&entry.payload) {
            Ok(value) => Some(Cached {
                value,
                fresh: entry.is_fresh(self.now()),
                stored_at: entry.stored_at,
                age: entry.age(self.now()),
                headers: entry.headers,
            }),
            Err(_) => {
                if count {
                    self.count(namespace).decode_errors.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// What the store holds for the key; `count` counts a decode error (the
    /// first look of a call does, its re-checks do not).
    async fn lookup<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
        count: bool,
    ) -> Result<Lookup<T>> {
        let Some(entry) = self.inner.store.get_stale(namespace, key).await? else {
            return Ok(Lookup::Miss);
        };
        let fresh = entry.is_fresh(self.now());
        if entry.headers.contains_key(NEGATIVE_HEADER) {
            if fresh {
                let message = String::from_utf8_lossy(&entry.payload).into_owned();
                return Ok(Lookup::Negative { message, until: entry.expires_at });
            }
            return Ok(Lookup::Miss);
        }
        Ok(match self.to_cached(namespace, entry, count) {
            Some(c) if fresh => Lookup::Fresh(c),
            Some(c) => Lookup::Stale(c),
            None => Lookup::Miss,
        })
    }

    /// The fresh value, or `None`. A value that fails to decode is a miss,
    /// counted in [`Counters::decode_errors`]; never a panic or an error.
    pub async fn get<T: DeserializeOwned>(&self, namespace: &str, key: &str) -> Result<Option<T>> {
        let counters = self.count(namespace);
        match self.lookup(namespace, key, true).await? {
            Lookup::Fresh(c) => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(c.value))
            }
            _ => {
                counters.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// The value if fresh or stale, with where it stands.
    pub async fn get_stale<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Cached<T>>> {
        let counters = self.count(namespace);
        match self.lookup(namespace, key, true).await? {
            Lookup::Fresh(c) => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(c))
            }
            Lookup::Stale(c) => {
                counters.stale_served.fetch_add(1, Ordering::Relaxed);
                Ok(Some(c))
            }
            _ => {
                counters.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// Encodes `value` and prepares its options: redaction, codec header.
    fn encode<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        mut options: SetOptions,
    ) -> Result<(Bytes, SetOptions)> {
        let payload = self.inner.codec.encode(value).map_err(|detail| Error::Backend {
            backend: "cache",
            operation: format!("encoding a value for ({namespace:?}, {key:?}) as {}", C::NAME),
            source: detail.into(),
        })?;
        self.inner.redaction.apply(&mut options.headers);
        options.headers.insert(CODEC_HEADER.to_owned(), C::NAME.to_owned());
        Ok((Bytes::from(payload), options))
    }

    /// Stores `value` with `options`; redacted headers are removed first.
    pub async fn set<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        let (payload, options) = self.encode(namespace, key, value, options)?;
        self.inner.store.set(namespace, key, payload, options).await
    }

    /// The row a fetched value is stored as, under `policy`.
    fn fetched_row<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        policy: &FetchPolicy,
    ) -> Result<(Bytes, SetOptions)> {
        let options = SetOptions::new()
            .ttl(policy.ttl)
            .stale_for(policy.stale_for)
            .headers(policy.headers.clone());
        self.encode(namespace, key, value, options)
    }

    fn flight(&self, namespace: &str, key: &str) -> Flight {
        let mut flights = self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(flights.entry((namespace.to_owned(), key.to_owned())).or_default())
    }

    fn land(&self, namespace: &str, key: &str, flight: Flight) {
        let mut flights = self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's reference and ours: nobody else waits on this flight.
        if Arc::strong_count(&flight) <= 2 {
            flights.remove(&(namespace.to_owned(), key.to_owned()));
        }
    }

    /// The cached value, or the fetcher's, stored under `policy`.
    ///
    /// - **Single-flight**: concurrent calls for one key run the fetcher
    ///   once; the others wait and get the stored value.
    /// - **Stale-if-error**: when the fetch fails and a stale value is
    ///   there, it is returned with `fresh == false`.
    /// - **Negative caching**: with [`FetchPolicy::negative_ttl`], a failure
    ///   with no stale value to fall back on is cached; calls within it
    ///   return [`FetchError::Cached`] without calling the fetcher.
    /// - **Stale-while-revalidate**: with
    ///   [`FetchPolicy::stale_while_revalidate`], a stale value is returned
    ///   at once and refreshed by a background task (needs a tokio runtime).
    pub async fn get_or_fetch<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> std::result::Result<Cached<T>, FetchError<E>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        let counters = self.count(namespace);
        match self.lookup::<T>(namespace, key, true).await.map_err(FetchError::Store)? {
            Lookup::Fresh(c) => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(c);
            }
            Lookup::Negative { message, until } => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                return Err(FetchError::Cached { message, until });
            }
            Lookup::Stale(c) if policy.stale_while_revalidate => {
                counters.stale_served.fetch_add(1, Ordering::Relaxed);
                self.revalidate(namespace, key, policy, fetch);
                return Ok(c);
            }
            Lookup::Stale(_) | Lookup::Miss => {}
        }
        let flight = self.flight(namespace, key);
        let result = {
            let _guard = flight.lock().await;
            self.fetch_in_flight(namespace, key, policy, fetch, &counters).await
        };
        self.land(namespace, key, flight);
        result
    }

    async fn fetch_in_flight<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
        counters: &AtomicCounters,
    ) -> std::result::Result<Cached<T>, FetchError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        // Another caller may have fetched while we waited for the flight.
        match self.lookup::<T>(namespace, key, false).await.map_err(FetchError::Store)? {
            Lookup::Fresh(c) => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(c);
            }
            Lookup::Negative { message, until } => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                return Err(FetchError::Cached { message, until });
            }
            Lookup::Stale(_) | Lookup::Miss => {}
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        match fetch().await {
            Ok(value) => {
                let (payload, options) =
                    self.fetched_row(namespace, key, &value, policy).map_err(FetchError::Store)?;
                self.inner
                    .store
                    .set(namespace, key, payload, options)
                    .await
                    .map_err(FetchError::Store)?;
                let now = self.now();
                Ok(Cached {
                    value,
                    fresh: true,
                    stored_at: now,
                    age: Duration::ZERO,
                    headers: policy.headers.clone(),
                })
            }
            Err(e) => {
                counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
                if let Lookup::Stale(c) =
                    self.lookup::<T>(namespace, key, false).await.map_err(FetchError::Store)?
                {
                    counters.stale_served.fetch_add(1, Ordering::Relaxed);
                    return Ok(c);
                }
                if let Some(ttl) = policy.negative_ttl {
                    let options = SetOptions::new().ttl(Ttl::For(ttl)).header(NEGATIVE_HEADER, "1");
                    let message = Bytes::from(e.to_string());
                    self.inner
                        .store
                        .set(namespace, key, message, options)
                        .await
                        .map_err(FetchError::Store)?;
                }
                Err(FetchError::Fetch(e))
            }
        }
    }

    /// Refreshes a stale value in the background, unless a fetch of it is
    /// already in flight.
    fn revalidate<T, E, F, Fut>(&self, namespace: &str, key: &str, policy: &FetchPolicy, fetch: F)
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let flight = self.flight(namespace, key);
        let Ok(guard) = Arc::clone(&flight).try_lock_owned() else {
            self.land(namespace, key, flight);
            return;
        };
        let (cache, ns, key, policy) =
            (self.clone(), namespace.to_owned(), key.to_owned(), policy.clone());
        runtime.spawn(async move {
            let counters = cache.count(&ns);
            match fetch().await {
                Ok(value) => {
                    // A failed refresh keeps the stale value; nothing to report to.
                    if let Ok((payload, options)) = cache.fetched_row(&ns, &key, &value, &policy) {
                        let _ = cache.inner.store.set(&ns, &key, payload, options).await;
                    }
                }
                Err(_) => {
                    counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(guard);
            cache.land(&ns, &key, flight);
        });
    }

    /// Starts a background task that purges dead rows every `interval`.
    /// It stops when the returned [`Purger`] is dropped or shut down. Needs
    /// a tokio runtime.
    pub fn spawn_purger(&self, interval: Duration) -> Result<Purger> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Config {
            message: "spawn_purger needs a tokio runtime; call it from async code".into(),
        })?;
        if interval.is_zero() {
            return Err(Error::Config {
                message: "spawn_purger: the interval must not be zero".into(),
            });
        }
        let store = Arc::clone(&self.inner.store);
        let purged = Arc::new(AtomicU64::new(0));
        let runs = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (p, r) = (Arc::clone(&purged), Arc::clone(&runs));
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {
                        if let Ok(n) = store.purge_expired().await {
                            p.fetch_add(n, Ordering::Relaxed);
                        }
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Purger { stop: Some(stop), task: Some(task), purged, runs })
    }
}

/// A background purger from [`Cache::spawn_purger`]. Dropping it stops the
/// task; [`Purger::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct Purger {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    purged: Arc<AtomicU64>,
    runs: Arc<AtomicU64>,
}

impl Purger {
    /// Rows purged so far.
    pub fn purged(&self) -> u64 {
        self.purged.load(Ordering::Relaxed)
    }

    /// Purge passes run so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Stops the task after its current pass and waits for it.
    pub async fn shutdown(mut self) -> u64 {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.purged()
    }
}

impl Drop for Purger {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
