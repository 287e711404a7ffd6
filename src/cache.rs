//! The typed [`Cache`] handle, written once for every backend.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use cachestore_core::{
    Bytes, CacheStore, Entry, Error, Headers, Result, SetOptions, TouchOptions, Ttl,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::codec::{Json, ValueCodec};
use crate::counters::{AtomicCounters, Counters, bump};
use crate::fetch::{Cached, FetchContext, FetchError, FetchPolicy, Fetched, Outcome, Previous};
use crate::flight::{Boarded, Ticket};
use crate::lease::{self, Lease};
use crate::redaction::{Redaction, WriteCandidate, WriteGuard, failure_text};

/// The header that marks a cached failure (negative caching). Like every
/// header starting `x-cachestore-`, it is cachestore's own bookkeeping and
/// never shown in a [`Cached`] value's headers.
pub const NEGATIVE_HEADER: &str = "x-cachestore-negative";
/// The header that names the codec a row was written with (bookkeeping,
/// as [`NEGATIVE_HEADER`]).
pub const CODEC_HEADER: &str = "x-cachestore-codec";
/// The prefix of cachestore's own headers.
pub const INTERNAL_HEADER_PREFIX: &str = "x-cachestore-";

/// Whether `name` is one of cachestore's own headers (any case).
pub fn is_internal_header(name: &str) -> bool {
    name.len() >= INTERNAL_HEADER_PREFIX.len()
        && name.as_bytes()[..INTERNAL_HEADER_PREFIX.len()]
            .eq_ignore_ascii_case(INTERNAL_HEADER_PREFIX.as_bytes())
}

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

/// Background work in flight (refreshes, fetches finishing after a soft
/// timeout), so that [`Cache::shutdown`] can wait for it.
#[derive(Default)]
struct Tasks {
    running: AtomicUsize,
    idle: Notify,
    closed: AtomicBool,
}

/// Marks one background task done when dropped, also when it panicked.
struct TaskDone {
    tasks: Arc<Tasks>,
    counters: Arc<AtomicCounters>,
    namespace: String,
}

impl Drop for TaskDone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            bump(&self.counters.fetch_errors);
            tracing::error!(namespace = %self.namespace, "a background fetch panicked; the cached row is unchanged");
        }
        if self.tasks.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tasks.idle.notify_waiters();
        }
    }
}

struct Inner<C> {
    store: Arc<dyn CacheStore>,
    codec: C,
    categories: Categories,
    redaction: Redaction,
    guard: Option<WriteGuard>,
    store_errors_fatal: bool,
    lease_ttl: Option<Duration>,
    counters: Mutex<HashMap<String, Arc<AtomicCounters>>>,
    tasks: Arc<Tasks>,
}

/// A typed cache over any [`CacheStore`]: values through a [`ValueCodec`],
/// `get_or_fetch` with single-flight, stale-if-error, negative caching,
/// stale-while-revalidate, eager refresh, timeouts and revalidation ("not
/// modified"), TTLs by category, header redaction, a write guard and
/// per-namespace counters. Cheap to clone.
///
/// It is never worse than no cache: when the store fails to read, the
/// fetcher is called; when it fails to write, the fetched value is still
/// returned. Both are counted ([`Counters::store_errors`]) and logged with
/// `tracing`; [`CacheBuilder::store_errors_fatal`] makes them errors.
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
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .field("codec", &C::NAME)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`].
#[must_use = "a builder does nothing until `build()`"]
pub struct CacheBuilder<C: ValueCodec = Json> {
    store: Arc<dyn CacheStore>,
    codec: C,
    categories: Categories,
    redaction: Redaction,
    guard: Option<WriteGuard>,
    store_errors_fatal: bool,
    lease_ttl: Option<Duration>,
}

impl<C: ValueCodec> CacheBuilder<C> {
    /// Uses `codec` for values. Default: [`Json`].
    pub fn codec<D: ValueCodec>(self, codec: D) -> CacheBuilder<D> {
        CacheBuilder {
            store: self.store,
            codec,
            categories: self.categories,
            redaction: self.redaction,
            guard: self.guard,
            store_errors_fatal: self.store_errors_fatal,
            lease_ttl: self.lease_ttl,
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

    /// Runs `guard` before every write: `Err(reason)` refuses it. A refused
    /// [`Cache::set`] is [`Error::Refused`]; a refused fetched value is
    /// still returned, not stored, and counted in
    /// [`Counters::refused_writes`]. [`refuse_secret_fields`](crate::refuse_secret_fields)
    /// is a ready guard for JSON payloads.
    pub fn write_guard(
        mut self,
        guard: impl Fn(&WriteCandidate<'_>) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// With `true`, a store that fails to read or write fails the call
    /// ([`FetchError::Store`]) instead of being bypassed. Default: `false`.
    pub fn store_errors_fatal(mut self, fatal: bool) -> Self {
        self.store_errors_fatal = fatal;
        self
    }

    /// The lease that makes one fetch per key across processes and
    /// machines: on a store shared between processes that has conditional
    /// writes (SQLite, Redis), the first caller to miss writes a lease row
    /// (`IfAbsent`, in [`LEASE_NAMESPACE`](crate::LEASE_NAMESPACE)) and
    /// fetches; callers elsewhere wait for its row, or for the lease to
    /// lapse if its holder crashed: `ttl` bounds that wait. Default:
    /// [`DEFAULT_LEASE_TTL`](crate::DEFAULT_LEASE_TTL) (10 s); `None` turns
    /// leases off (single-flight is then per process).
    pub fn fetch_lease(mut self, ttl: Option<Duration>) -> Self {
        self.lease_ttl = ttl.filter(|t| !t.is_zero());
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
                guard: self.guard,
                store_errors_fatal: self.store_errors_fatal,
                lease_ttl: self.lease_ttl,
                counters: Mutex::new(HashMap::new()),
                tasks: Arc::default(),
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
            guard: None,
            store_errors_fatal: false,
            lease_ttl: Some(crate::lease::DEFAULT_LEASE_TTL),
        }
    }
}

enum Lookup<T> {
    /// A fresh value, and when it expires.
    Fresh(Cached<T>, Option<SystemTime>),
    Stale(Cached<T>, Entry),
    Negative {
        message: String,
        until: Option<SystemTime>,
    },
    Miss,
}

/// Where a `get_or_fetch` stands after looking at the store.
pub(crate) enum Begin<T> {
    /// Return this value; nothing to fetch.
    Done(Cached<T>),
    /// Return this value and refresh the row in the background.
    Refresh(Cached<T>),
    /// Fetch, holding the key's flight.
    Fetch(Box<Pending>),
}

/// A fetch about to run: the flight is held until it is completed (or
/// dropped: a cancelled call leaves nothing behind).
pub(crate) struct Pending {
    lease: Option<Lease>,
    _boarded: Boarded,
    context: FetchContext,
    previous: Option<Entry>,
    counters: Arc<AtomicCounters>,
    started: Instant,
}

impl Pending {
    /// What the fetcher is told.
    pub(crate) fn context(&self) -> FetchContext {
        self.context.clone()
    }

    /// A stale value is there to fall back on.
    pub(crate) fn has_previous(&self) -> bool {
        self.previous.is_some()
    }
}

/// How a fetch ended.
pub(crate) enum Attempt<T, E> {
    Done(std::result::Result<Fetched<T>, E>),
    TimedOut(Duration),
}

type FetchResult<T, E> = std::result::Result<Cached<T>, FetchError<E>>;

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
        if let Some(c) = counters.get(namespace) {
            return Arc::clone(c);
        }
        Arc::clone(counters.entry(namespace.to_owned()).or_default())
    }

    fn now(&self) -> SystemTime {
        self.inner.store.clock().now()
    }

    /// The address that identifies the store for single-flight.
    fn store_id(&self) -> usize {
        Arc::as_ptr(&self.inner.store) as *const () as usize
    }

    /// The headers a user sees: redacted, without cachestore's own.
    fn visible(&self, mut headers: Headers) -> Headers {
        headers.retain(|name, _| !is_internal_header(name));
        self.inner.redaction.apply(&mut headers);
        headers
    }

    fn store_failed(&self, counters: &AtomicCounters, what: &str, namespace: &str, e: &Error) {
        bump(&counters.store_errors);
        tracing::warn!(namespace, error = %e, "cache store failed while {what}; going on without it");
    }

    fn decode<T: DeserializeOwned>(
        &self,
        namespace: &str,
        entry: &Entry,
        counters: Option<&AtomicCounters>,
    ) -> Option<Cached<T>> {
        self.decode_parts(namespace, entry, entry.headers.clone(), self.now(), counters)
    }

    /// Decodes `entry`'s payload into a [`Cached`] showing `headers` (the
    /// entry's own, moved or cloned by the caller).
    fn decode_parts<T: DeserializeOwned>(
        &self,
        namespace: &str,
        entry: &Entry,
        headers: Headers,
        now: SystemTime,
        counters: Option<&AtomicCounters>,
    ) -> Option<Cached<T>> {
        match self.inner.codec.decode(&entry.payload) {
            Ok(value) => Some(Cached {
                value,
                fresh: entry.is_fresh(now),
                stored_at: entry.stored_at,
                age: entry.age(now),
                headers: self.visible(headers),
            }),
            Err(detail) => {
                if let Some(c) = counters {
                    bump(&c.decode_errors);
                    tracing::debug!(namespace, %detail, "a stored value did not decode; a miss");
                }
                None
            }
        }
    }

    /// What the store holds for the key; `counters` counts a decode error
    /// (the first look of a call does, its re-checks do not).
    async fn lookup<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
        counters: Option<&AtomicCounters>,
    ) -> Result<Lookup<T>> {
        let Some(mut entry) = self.inner.store.get_stale(namespace, key).await? else {
            return Ok(Lookup::Miss);
        };
        let now = self.now();
        let fresh = entry.is_fresh(now);
        if entry.headers.contains_key(NEGATIVE_HEADER) {
            if fresh {
                let message = String::from_utf8_lossy(&entry.payload).into_owned();
                return Ok(Lookup::Negative { message, until: entry.expires_at });
            }
            return Ok(Lookup::Miss);
        }
        if fresh {
            // The hot path: the headers move into the value, not copied.
            let headers = std::mem::take(&mut entry.headers);
            let cached = self.decode_parts(namespace, &entry, headers, now, counters);
            return Ok(cached.map_or(Lookup::Miss, |c| Lookup::Fresh(c, entry.expires_at)));
        }
        let headers = entry.headers.clone();
        Ok(match self.decode_parts(namespace, &entry, headers, now, counters) {
            Some(c) => Lookup::Stale(c, entry),
            None => Lookup::Miss,
        })
    }

    /// [`Cache::lookup`] where a store error is counted and, unless fatal,
    /// taken as a miss.
    async fn lookup_or_bypass<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
        counters: &AtomicCounters,
        count_decode: bool,
    ) -> Result<Lookup<T>> {
        match self.lookup(namespace, key, count_decode.then_some(counters)).await {
            Ok(found) => Ok(found),
            Err(e) => {
                self.store_failed(counters, "reading", namespace, &e);
                if self.inner.store_errors_fatal { Err(e) } else { Ok(Lookup::Miss) }
            }
        }
    }

    /// The fresh value, or `None`. A value that fails to decode is a miss,
    /// counted in [`Counters::decode_errors`]; never a panic or an error.
    pub async fn get<T: DeserializeOwned>(&self, namespace: &str, key: &str) -> Result<Option<T>> {
        Ok(self.get_fresh(namespace, key).await?.map(|c| c.value))
    }

    /// The fresh value with its metadata (headers, when stored), or `None`.
    pub async fn get_fresh<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Cached<T>>> {
        let counters = self.count(namespace);
        match self.lookup(namespace, key, Some(&counters)).await {
            Ok(Lookup::Fresh(c, _)) => {
                bump(&counters.hits);
                Ok(Some(c))
            }
            Ok(Lookup::Negative { .. }) => {
                bump(&counters.negative_hits);
                Ok(None)
            }
            Ok(_) => {
                bump(&counters.misses);
                Ok(None)
            }
            Err(e) => {
                bump(&counters.store_errors);
                Err(e)
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
        match self.lookup(namespace, key, Some(&counters)).await {
            Ok(Lookup::Fresh(c, _)) => {
                bump(&counters.hits);
                Ok(Some(c))
            }
            Ok(Lookup::Stale(c, _)) => {
                bump(&counters.stale_served);
                Ok(Some(c))
            }
            Ok(Lookup::Negative { .. }) => {
                bump(&counters.negative_hits);
                Ok(None)
            }
            Ok(Lookup::Miss) => {
                bump(&counters.misses);
                Ok(None)
            }
            Err(e) => {
                bump(&counters.store_errors);
                Err(e)
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
        options.headers.retain(|name, _| !is_internal_header(name));
        self.inner.redaction.apply(&mut options.headers);
        options.headers.insert(CODEC_HEADER.to_owned(), C::NAME.to_owned());
        Ok((Bytes::from(payload), options))
    }

    /// Runs the write guard.
    fn guard(&self, namespace: &str, key: &str, payload: &[u8], headers: &Headers) -> Result<()> {
        let Some(guard) = &self.inner.guard else { return Ok(()) };
        let candidate = WriteCandidate { namespace, key, payload, headers };
        guard(&candidate).map_err(|reason| Error::Refused {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            reason,
        })
    }

    /// Stores `value` with `options`. Redacted headers and headers starting
    /// `x-cachestore-` are removed first; the write guard may refuse it
    /// ([`Error::Refused`]).
    pub async fn set<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        let counters = self.count(namespace);
        let (payload, options) = self.encode(namespace, key, value, options)?;
        if let Err(e) = self.guard(namespace, key, &payload, &options.headers) {
            bump(&counters.refused_writes);
            return Err(e);
        }
        match self.inner.store.set(namespace, key, payload, options).await {
            Ok(()) => {
                bump(&counters.sets);
                Ok(())
            }
            Err(e) => {
                bump(&counters.store_errors);
                Err(e)
            }
        }
    }

    /// Deletes the row; `true` if one was there.
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        self.inner.store.delete(namespace, key).await
    }

    /// Removes every row carrying `tag`, in every namespace (values and
    /// remembered failures written with [`FetchPolicy::tag`],
    /// [`Fetched::tag`](crate::Fetched::tag) or [`SetOptions::tag`]), and
    /// returns how many were fresh or stale (CONTRACT.md §9). Its cost grows
    /// with the rows carrying the tag, not with the store.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachestore::Result<()> {
    /// use std::sync::Arc;
    /// use cachestore::{Cache, MemoryStore, SetOptions};
    ///
    /// let cache = Cache::new(Arc::new(MemoryStore::new()));
    /// let album = SetOptions::new().tag("album:mezzanine");
    /// cache.set("musicbrainz", "angel", &"6:18", album.clone()).await?;
    /// cache.set("discogs", "angel", &"6:19", album).await?;
    /// cache.set("discogs", "teardrop", &"5:30", SetOptions::new()).await?;
    /// assert_eq!(cache.invalidate_tag("album:mezzanine").await?, 2);
    /// assert_eq!(cache.get::<String>("discogs", "teardrop").await?.as_deref(), Some("5:30"));
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        self.inner.store.invalidate_tag(tag).await
    }

    /// Background work may start: a tokio runtime is here and the cache is
    /// not shut down.
    pub(crate) fn background(&self) -> Option<Handle> {
        if self.is_shut_down() {
            return None;
        }
        Handle::try_current().ok()
    }

    /// [`Cache::shutdown`] was called: no new background work.
    pub fn is_shut_down(&self) -> bool {
        self.inner.tasks.closed.load(Ordering::Acquire)
    }

    /// Looks at the store and, when a fetch is needed, takes the key's
    /// flight. With `background`, a stale value under stale-while-revalidate
    /// and a fresh one due for eager refresh come back as
    /// [`Begin::Refresh`].
    pub(crate) async fn begin<T: DeserializeOwned, E>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        background: bool,
    ) -> std::result::Result<Begin<T>, FetchError<E>> {
        let counters = self.count(namespace);
        match self
            .lookup_or_bypass::<T>(namespace, key, &counters, true)
            .await
            .map_err(FetchError::Store)?
        {
            Lookup::Fresh(c, expires_at) => {
                bump(&counters.hits);
                if background && due_for_refresh(policy, &c, expires_at) {
                    return Ok(Begin::Refresh(c));
                }
                return Ok(Begin::Done(c));
            }
            Lookup::Negative { message, until } => {
                bump(&counters.negative_hits);
                return Err(FetchError::Cached { message, until });
            }
            Lookup::Stale(c, _) if background && policy.stale_while_revalidate => {
                bump(&counters.stale_served);
                return Ok(Begin::Refresh(c));
            }
            Lookup::Stale(..) | Lookup::Miss => {}
        }
        let boarded = Ticket::new(self.store_id(), namespace, key).board().await;
        let mut lease = None;
        let mut backoff = Duration::from_millis(5);
        loop {
            // Another caller (here, or elsewhere while we waited for the
            // lease) may have fetched.
            let found = self
                .lookup_or_bypass::<T>(namespace, key, &counters, false)
                .await
                .map_err(FetchError::Store)?;
            let previous = match found {
                Lookup::Fresh(c, _) => {
                    bump(&counters.hits);
                    release(lease).await;
                    return Ok(Begin::Done(c));
                }
                Lookup::Negative { message, until } => {
                    bump(&counters.negative_hits);
                    release(lease).await;
                    return Err(FetchError::Cached { message, until });
                }
                Lookup::Stale(_, entry) => Some(entry),
                Lookup::Miss => None,
            };
            let Some(ttl) = self.lease_ttl() else {
                bump(&counters.misses);
                return Ok(Begin::Fetch(self.pending(namespace, key, boarded, previous, counters)));
            };
            if lease.is_some() {
                bump(&counters.misses);
                let mut pending = self.pending(namespace, key, boarded, previous, counters);
                pending.lease = lease;
                return Ok(Begin::Fetch(pending));
            }
            match lease::try_acquire(&self.inner.store, namespace, key, ttl).await {
                // Look once more, now that no one else can be fetching.
                Ok(Some(held)) => lease = Some(held),
                Ok(None) => {
                    // Held elsewhere: wait for its row, or for it to lapse.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    self.store_failed(&counters, "taking a fetch lease", namespace, &e);
                    if self.inner.store_errors_fatal {
                        return Err(FetchError::Store(e));
                    }
                    bump(&counters.misses);
                    return Ok(Begin::Fetch(
                        self.pending(namespace, key, boarded, previous, counters),
                    ));
                }
            }
        }
    }

    /// The lease TTL when leases apply to this store: it is shared between
    /// processes and can write conditionally.
    fn lease_ttl(&self) -> Option<Duration> {
        let caps = self.inner.store.capabilities();
        self.inner.lease_ttl.filter(|_| caps.multi_process && caps.conditional_writes)
    }

    fn pending(
        &self,
        namespace: &str,
        key: &str,
        boarded: Boarded,
        previous: Option<Entry>,
        counters: Arc<AtomicCounters>,
    ) -> Box<Pending> {
        let context = FetchContext {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            previous: previous.as_ref().map(|e| Previous {
                headers: self.visible(e.headers.clone()),
                stored_at: e.stored_at,
                expires_at: e.expires_at,
            }),
        };
        bump(&counters.fetches);
        Box::new(Pending {
            lease: None,
            _boarded: boarded,
            context,
            previous,
            counters,
            started: Instant::now(),
        })
    }

    /// Takes the key's flight for a background refresh; `None` when a fetch
    /// of it is already running.
    async fn begin_refresh(&self, namespace: &str, key: &str, boarded: Boarded) -> Box<Pending> {
        let counters = self.count(namespace);
        let previous = match self.inner.store.get_stale(namespace, key).await {
            Ok(Some(e)) if !e.headers.contains_key(NEGATIVE_HEADER) => Some(e),
            Ok(_) => None,
            Err(e) => {
                self.store_failed(&counters, "reading before a refresh", namespace, &e);
                None
            }
        };
        self.pending(namespace, key, boarded, previous, counters)
    }

    /// A stale value to return instead of waiting for a fetch (soft
    /// timeout), counted as served stale.
    pub(crate) fn stale_of<T: DeserializeOwned>(&self, pending: &Pending) -> Option<Cached<T>> {
        let entry = pending.previous.as_ref()?;
        let c = self.decode(&pending.context.namespace, entry, None)?;
        bump(&pending.counters.stale_served);
        Some(c)
    }

    /// Stores what a fetch returned and says what the caller gets; gives
    /// the fetch lease back, if one was held.
    pub(crate) async fn complete<T, E>(
        &self,
        mut pending: Box<Pending>,
        policy: &FetchPolicy,
        attempt: Attempt<T, E>,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
    {
        let lease = pending.lease.take();
        let result = self.store_outcome(pending, policy, attempt).await;
        release(lease).await;
        result
    }

    async fn store_outcome<T, E>(
        &self,
        pending: Box<Pending>,
        policy: &FetchPolicy,
        attempt: Attempt<T, E>,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
    {
        let counters = Arc::clone(&pending.counters);
        counters.fetched_in(pending.started.elapsed());
        let (namespace, key) = (pending.context.namespace.as_str(), pending.context.key.as_str());
        let fetched = match attempt {
            Attempt::Done(Ok(fetched)) => fetched,
            Attempt::Done(Err(e)) => {
                let text = failure_text(&e);
                return self.fetch_failed(&pending, policy, text, FetchError::Fetch(e)).await;
            }
            Attempt::TimedOut(after) => {
                let text = format!("fetch timed out after {after:?}");
                return self.fetch_failed(&pending, policy, text, FetchError::Timeout(after)).await;
            }
        };
        let mut options = SetOptions::new()
            .ttl(fetched.ttl.unwrap_or(policy.ttl))
            .stale_for(fetched.stale_for.unwrap_or(policy.stale_for))
            .headers(policy.headers.clone())
            .tags(policy.tags.iter().cloned())
            .tags(fetched.tags);
        match fetched.outcome {
            Outcome::Value(value) => {
                options.headers.extend(fetched.headers);
                let (payload, options) =
                    self.encode(namespace, key, &value, options).map_err(FetchError::Store)?;
                let headers = self.visible(options.headers.clone());
                if fetched.store {
                    self.store_fetched(namespace, key, payload, options, &counters).await?;
                }
                let now = self.now();
                Ok(Cached { value, fresh: true, stored_at: now, age: Duration::ZERO, headers })
            }
            Outcome::NotModified => {
                let Some(previous) = pending.previous.as_ref() else {
                    bump(&counters.fetch_errors);
                    tracing::warn!(
                        namespace,
                        "the fetcher answered \"not modified\" with nothing cached"
                    );
                    return Err(FetchError::NothingToRevalidate);
                };
                let Some(mut cached) = self.decode::<T>(namespace, previous, None) else {
                    return Err(FetchError::NothingToRevalidate);
                };
                bump(&counters.revalidations);
                // The previous row's headers, the policy's, then the response's.
                let mut headers = previous.headers.clone();
                headers.extend(options.headers);
                headers.extend(fetched.headers);
                headers.retain(|name, _| !is_internal_header(name) || name == CODEC_HEADER);
                self.inner.redaction.apply(&mut headers);
                // Rewritten (a store without touch, or a row gone
                // meanwhile), the row keeps its tags, with the new ones.
                let mut options = SetOptions { headers, ..options };
                options.tags.extend(previous.tags.iter().cloned());
                cached.headers = self.visible(options.headers.clone());
                if fetched.store {
                    self.renew(namespace, key, previous, options, &counters).await?;
                }
                let now = self.now();
                cached.fresh = true;
                cached.stored_at = now;
                cached.age = Duration::ZERO;
                Ok(cached)
            }
        }
    }

    /// Renews the previous row after "not modified": in place where the
    /// store can `touch` (the payload is not written again), else by
    /// writing it again; also when it went meanwhile (the upstream just
    /// said it is right).
    async fn renew<E>(
        &self,
        namespace: &str,
        key: &str,
        previous: &Entry,
        options: SetOptions,
        counters: &AtomicCounters,
    ) -> std::result::Result<(), FetchError<E>> {
        if self.inner.store.capabilities().touch {
            let touch = TouchOptions::new(options.ttl)
                .stale_for(options.stale_for)
                .headers(options.headers.clone());
            match self.inner.store.touch(namespace, key, touch).await {
                Ok(Some(_)) => {
                    bump(&counters.sets);
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => {
                    self.store_failed(counters, "renewing a row", namespace, &e);
                    return if self.inner.store_errors_fatal {
                        Err(FetchError::Store(e))
                    } else {
                        Ok(())
                    };
                }
            }
        }
        let payload = previous.payload.clone();
        self.store_fetched(namespace, key, payload, options, counters).await
    }

    async fn store_fetched<E>(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        counters: &AtomicCounters,
    ) -> std::result::Result<(), FetchError<E>> {
        if let Err(e) = self.guard(namespace, key, &payload, &options.headers) {
            bump(&counters.refused_writes);
            tracing::warn!(namespace, error = %e, "the write guard refused a fetched value; returned, not stored");
            return Ok(());
        }
        match self.inner.store.set(namespace, key, payload, options).await {
            Ok(()) => {
                bump(&counters.sets);
                Ok(())
            }
            Err(e) => {
                self.store_failed(counters, "storing a fetched value", namespace, &e);
                if self.inner.store_errors_fatal { Err(FetchError::Store(e)) } else { Ok(()) }
            }
        }
    }

    async fn fetch_failed<T, E>(
        &self,
        pending: &Pending,
        policy: &FetchPolicy,
        text: String,
        error: FetchError<E>,
    ) -> FetchResult<T, E>
    where
        T: DeserializeOwned,
    {
        let counters = &pending.counters;
        let (namespace, key) = (pending.context.namespace.as_str(), pending.context.key.as_str());
        bump(&counters.fetch_errors);
        tracing::warn!(namespace, error = %text, "fetch failed");
        // The row as it is now: it may have died or gone while the fetcher ran.
        match self.lookup_or_bypass::<T>(namespace, key, counters, false).await {
            Ok(Lookup::Stale(c, _)) => {
                bump(&counters.stale_served);
                return Ok(c);
            }
            Ok(_) => {}
            Err(e) => return Err(FetchError::Store(e)),
        }
        if let Some(ttl) = policy.negative_ttl {
            let options = SetOptions::new()
                .ttl(Ttl::For(ttl))
                .header(NEGATIVE_HEADER, "1")
                .tags(policy.tags.iter().cloned());
            match self.inner.store.set(namespace, key, Bytes::from(text), options).await {
                Ok(()) => bump(&counters.sets),
                Err(e) => {
                    self.store_failed(counters, "caching a failure", namespace, &e);
                    if self.inner.store_errors_fatal {
                        return Err(FetchError::Store(e));
                    }
                }
            }
        }
        Err(error)
    }

    /// Runs `work` in the background on `handle`, counted for
    /// [`Cache::shutdown`].
    pub(crate) fn spawn_task(
        &self,
        handle: &Handle,
        namespace: &str,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        let tasks = Arc::clone(&self.inner.tasks);
        tasks.running.fetch_add(1, Ordering::AcqRel);
        let done =
            TaskDone { tasks, counters: self.count(namespace), namespace: namespace.to_owned() };
        handle.spawn(async move {
            let _done = done;
            work.await;
        });
    }

    /// Refreshes a row in the background, unless a fetch of it is already
    /// running. `fetch` is the whole fetch, timeouts included.
    pub(crate) fn refresh<T, E, F, Fut>(
        &self,
        handle: &Handle,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce(FetchContext) -> Fut + Send + 'static,
        Fut: Future<Output = Option<Attempt<T, E>>> + Send + 'static,
    {
        let Some(boarded) = Ticket::new(self.store_id(), namespace, key).try_board() else {
            return;
        };
        let (cache, ns, key, policy) =
            (self.clone(), namespace.to_owned(), key.to_owned(), policy.clone());
        let span = tracing::debug_span!("cachestore.refresh", namespace);
        let work = async move {
            let pending = cache.begin_refresh(&ns, &key, boarded).await;
            let context = pending.context();
            match fetch(context).await {
                Some(attempt) => {
                    // Errors are counted and logged inside.
                    let _ = cache.complete(pending, &policy, attempt).await;
                }
                None => {
                    bump(&pending.counters.fetch_errors);
                    tracing::error!(namespace = %ns, "a background fetch stopped without an answer (it panicked)");
                }
            }
        };
        self.spawn_task(handle, namespace, work.instrument(span));
    }

    /// The cached value, or the fetcher's, stored under `policy`.
    ///
    /// The fetcher returns a value; for its headers, its own TTL, "not
    /// modified" or the previous row's `etag`, use
    /// [`Cache::get_or_fetch_with`]. Everything said there holds here.
    pub async fn get_or_fetch<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        self.get_or_fetch_with(namespace, key, policy, move |_| async move {
            fetch().await.map(Fetched::value)
        })
        .await
    }

    /// The cached value, or the fetcher's, stored under `policy`; the
    /// fetcher sees a [`FetchContext`] (the previous row's headers, to
    /// revalidate) and returns a [`Fetched`]: a value with its own headers,
    /// TTL and stale window, or "not modified".
    ///
    /// - **Single-flight**: concurrent calls for one key run one fetch,
    ///   across every `Cache` over the same store in this process; the
    ///   others wait and get the stored value. A call dropped while waiting
    ///   or fetching leaves nothing behind.
    /// - **Stale-if-error**: when the fetch fails (or passes the hard
    ///   timeout) and a stale value is there, it is returned with
    ///   `fresh == false`.
    /// - **Negative caching**: with [`FetchPolicy::negative_ttl`], a failure
    ///   with no stale value is cached (its text redacted and at most
    ///   [`MAX_FAILURE_TEXT`](crate::MAX_FAILURE_TEXT) bytes); calls within
    ///   it return [`FetchError::Cached`] without calling the fetcher.
    /// - **Stale-while-revalidate, eager refresh, soft timeout**: see
    ///   [`FetchPolicy`]; their background work runs on the current tokio
    ///   runtime and [`Cache::shutdown`] waits for it.
    /// - **Never worse than no cache**: a store that fails to read or write
    ///   is bypassed, counted and logged (unless
    ///   [`CacheBuilder::store_errors_fatal`]).
    ///
    /// The fetcher must be owned (`'static`) because it may finish in the
    /// background; [`Cache::get_or_fetch_borrowed`] takes one that borrows.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachestore::Result<()> {
    /// use std::time::Duration;
    /// use cachestore::{Cache, Fetched, FetchPolicy};
    ///
    /// let cache = Cache::new(cachestore::open("memory://")?);
    /// let policy = FetchPolicy::new(Duration::from_secs(60));
    /// let first = cache
    ///     .get_or_fetch_with("api", "/v1/movie/603", &policy, |_| async {
    ///         Ok::<_, String>(Fetched::value("The Matrix".to_owned()).header("etag", "\"v1\""))
    ///     })
    ///     .await
    ///     .expect("fetched");
    /// assert_eq!(first.headers["etag"], "\"v1\"");
    /// # Ok(()) }
    /// ```
    pub async fn get_or_fetch_with<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: FnOnce(FetchContext) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Fetched<T>, E>> + Send + 'static,
    {
        let handle = self.background();
        let pending = match self.begin::<T, E>(namespace, key, policy, handle.is_some()).await? {
            Begin::Done(c) => return Ok(c),
            Begin::Refresh(c) => {
                if let Some(handle) = &handle {
                    let hard = policy.hard_timeout;
                    self.refresh(handle, namespace, key, policy, move |ctx| async move {
                        Some(with_timeout(hard, fetch(ctx)).await)
                    });
                }
                return Ok(c);
            }
            Begin::Fetch(p) => p,
        };
        let span = tracing::debug_span!("cachestore.fetch", namespace);
        let mut future = Box::pin(fetch(pending.context()).instrument(span));
        if let (Some(soft), Some(handle), true) =
            (policy.soft_before_hard(), &handle, pending.has_previous())
        {
            if let Ok(result) = tokio::time::timeout(soft, &mut future).await {
                return self.complete(pending, policy, Attempt::Done(result)).await;
            }
            if let Some(stale) = self.stale_of::<T>(&pending) {
                let (cache, policy) = (self.clone(), policy.clone());
                self.spawn_task(handle, namespace, async move {
                    let attempt = after_soft_timeout(soft, policy.hard_timeout, future).await;
                    let _ = cache.complete(pending, &policy, attempt).await;
                });
                return Ok(stale);
            }
            let attempt = after_soft_timeout(soft, policy.hard_timeout, future).await;
            return self.complete(pending, policy, attempt).await;
        }
        let attempt = with_timeout(policy.hard_timeout, future).await;
        self.complete(pending, policy, attempt).await
    }

    /// [`Cache::get_or_fetch_with`] for a fetcher that borrows (a client,
    /// a connection): everything runs in the caller's task. What needs the
    /// background is done in the foreground instead: a stale value under
    /// stale-while-revalidate is refreshed before the call returns, no eager
    /// refresh is started, and after a soft timeout the stale value is
    /// returned and the fetch dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachestore::Result<()> {
    /// use std::time::Duration;
    /// use cachestore::{Cache, Fetched, FetchPolicy};
    ///
    /// struct Client { base: String }
    /// impl Client {
    ///     async fn get(&self, path: &str) -> Result<String, String> { Ok(format!("{}{path}", self.base)) }
    /// }
    ///
    /// let client = Client { base: "https://api.example".into() };
    /// let cache = Cache::new(cachestore::open("memory://")?);
    /// let policy = FetchPolicy::new(Duration::from_secs(60));
    /// let got = cache
    ///     .get_or_fetch_borrowed("api", "/x", &policy, |ctx| {
    ///         let client = &client;
    ///         async move { client.get(&ctx.key).await.map(Fetched::value) }
    ///     })
    ///     .await
    ///     .expect("fetched");
    /// assert_eq!(got.value, "https://api.example/x");
    /// # Ok(()) }
    /// ```
    pub async fn get_or_fetch_borrowed<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        policy: &FetchPolicy,
        fetch: F,
    ) -> FetchResult<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnOnce(FetchContext) -> Fut,
        Fut: Future<Output = std::result::Result<Fetched<T>, E>>,
    {
        let pending = match self.begin::<T, E>(namespace, key, policy, false).await? {
            Begin::Done(c) | Begin::Refresh(c) => return Ok(c),
            Begin::Fetch(p) => p,
        };
        let span = tracing::debug_span!("cachestore.fetch", namespace);
        let mut future = std::pin::pin!(fetch(pending.context()).instrument(span));
        if let (Some(soft), true) = (policy.soft_before_hard(), pending.has_previous()) {
            if let Ok(result) = tokio::time::timeout(soft, &mut future).await {
                return self.complete(pending, policy, Attempt::Done(result)).await;
            }
            if let Some(stale) = self.stale_of::<T>(&pending) {
                return Ok(stale);
            }
            let attempt = after_soft_timeout(soft, policy.hard_timeout, future).await;
            return self.complete(pending, policy, attempt).await;
        }
        let attempt = with_timeout(policy.hard_timeout, future).await;
        self.complete(pending, policy, attempt).await
    }

    /// Stops new background work (refreshes then run in the foreground)
    /// and waits until every background refresh and fetch has finished and
    /// stored its result.
    pub async fn shutdown(&self) {
        self.inner.tasks.closed.store(true, Ordering::Release);
        self.wait_background().await;
    }

    /// Waits until no background work of this cache is running (it may
    /// still start more).
    pub async fn wait_background(&self) {
        loop {
            let idle = self.inner.tasks.idle.notified();
            let mut idle = std::pin::pin!(idle);
            idle.as_mut().enable();
            if self.inner.tasks.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Background tasks running now.
    pub fn background_tasks(&self) -> usize {
        self.inner.tasks.running.load(Ordering::Acquire)
    }

    /// Starts a background task that purges dead rows every `interval`.
    /// It stops when the returned [`Purger`] is dropped or shut down. Needs
    /// a tokio runtime. A failed pass is logged and counted in
    /// [`Purger::failures`]; the next pass tries again.
    pub fn spawn_purger(&self, interval: Duration) -> Result<Purger> {
        let runtime = Handle::try_current().map_err(|_| Error::Config {
            message: "spawn_purger needs a tokio runtime; call it from async code".into(),
        })?;
        self.purger_on(&runtime, interval)
    }

    pub(crate) fn purger_on(&self, runtime: &Handle, interval: Duration) -> Result<Purger> {
        if interval.is_zero() {
            return Err(Error::Config {
                message: "spawn_purger: the interval must not be zero".into(),
            });
        }
        let store = Arc::clone(&self.inner.store);
        let purged = Arc::new(AtomicU64::new(0));
        let runs = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (p, r, f) = (Arc::clone(&purged), Arc::clone(&runs), Arc::clone(&failures));
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {
                        match store.purge_expired().await {
                            Ok(n) => { p.fetch_add(n, Ordering::Relaxed); }
                            Err(e) => {
                                f.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "a purge pass failed; the next one tries again");
                            }
                        }
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Purger { stop: Some(stop), task: Some(task), purged, runs, failures })
    }
}

/// Gives a lease back, if one is held.
async fn release(lease: Option<Lease>) {
    if let Some(lease) = lease {
        lease.release().await;
    }
}

/// A fresh row is due for eager refresh once the policy's fraction of its
/// TTL has passed.
fn due_for_refresh<T>(policy: &FetchPolicy, c: &Cached<T>, expires_at: Option<SystemTime>) -> bool {
    let (Some(fraction), Some(expires)) = (policy.refresh_ahead, expires_at) else {
        return false;
    };
    let Ok(ttl) = expires.duration_since(c.stored_at) else { return false };
    c.age >= ttl.mul_f64(fraction)
}

/// Runs a fetch under an optional timeout.
/// Waits out the rest of `hard` for a fetch that already ran `soft`; a
/// timeout says the whole wait.
async fn after_soft_timeout<T, E>(
    soft: Duration,
    hard: Option<Duration>,
    fetch: impl Future<Output = std::result::Result<Fetched<T>, E>>,
) -> Attempt<T, E> {
    match with_timeout(hard.map(|h| h.saturating_sub(soft)), fetch).await {
        Attempt::TimedOut(rest) => Attempt::TimedOut(soft + rest),
        done => done,
    }
}

pub(crate) async fn with_timeout<T, E>(
    limit: Option<Duration>,
    fetch: impl Future<Output = std::result::Result<Fetched<T>, E>>,
) -> Attempt<T, E> {
    match limit {
        None => Attempt::Done(fetch.await),
        Some(limit) => match tokio::time::timeout(limit, fetch).await {
            Ok(result) => Attempt::Done(result),
            Err(_) => Attempt::TimedOut(limit),
        },
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
    failures: Arc<AtomicU64>,
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

    /// Purge passes that failed so far (each logged).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
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
