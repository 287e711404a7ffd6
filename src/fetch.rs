//! What a fetcher sees and returns, and how [`Cache`](crate::Cache) caches it.

use std::fmt;
use std::time::{Duration, SystemTime};

use cachestore_core::{Error, Headers, Tags, Ttl};

/// How [`Cache::get_or_fetch`](crate::Cache::get_or_fetch) caches what it
/// fetches. A [`Fetched`] value may override the TTL, the stale window and
/// add headers for its own row.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cachestore::{Cache, FetchError, FetchPolicy, MemoryStore};
///
/// let cache = Cache::new(Arc::new(MemoryStore::new()));
/// // Fresh an hour, then served stale for a day if the upstream fails;
/// // a failure is remembered for 5 minutes; refreshed in the background
/// // once 80% of the hour has passed.
/// let policy = FetchPolicy::new(Duration::from_secs(3600))
///     .stale_for(Duration::from_secs(86_400))
///     .negative_ttl(Duration::from_secs(300))
///     .refresh_ahead(0.8)
///     .tag("source:tmdb");
/// let title: String = cache
///     .get_or_fetch("tmdb", "movie/603", &policy, || async { Ok::<_, String>("The Matrix".to_owned()) })
///     .await?
///     .value;
/// assert_eq!(title, "The Matrix");
/// let failed = cache
///     .get_or_fetch("tmdb", "movie/0", &policy, || async { Err::<String, _>("404") })
///     .await;
/// assert!(matches!(failed, Err(FetchError::Fetch("404"))));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a policy does nothing until it is passed to `get_or_fetch`"]
pub struct FetchPolicy {
    /// How long a fetched value is fresh.
    pub ttl: Ttl,
    /// How long after that it may still be served stale when a fetch fails.
    pub stale_for: Duration,
    /// Cache a failed fetch for this long (negative caching): calls within
    /// it fail at once without calling the fetcher. `None`: do not.
    pub negative_ttl: Option<Duration>,
    /// Serve a stale value at once and refresh it in the background. Needs
    /// an owned fetcher: `get_or_fetch_borrowed` refreshes in the caller's
    /// task instead (the call waits for the fetch).
    pub stale_while_revalidate: bool,
    /// Refresh a fresh value in the background once this fraction of its
    /// TTL has passed (eager refresh; `0.8`: after 80%). The caller gets the
    /// fresh value at once. Needs an owned fetcher; ignored by
    /// `get_or_fetch_borrowed`, whose caller would otherwise wait.
    pub refresh_ahead: Option<f64>,
    /// When a stale value is there and the fetch takes longer than this,
    /// return the stale value; the fetch goes on in the background and
    /// stores its result (owned fetchers; `get_or_fetch_borrowed` drops the
    /// fetch instead). A soft timeout at or past `hard_timeout` has no
    /// effect: the hard one gives up first.
    pub soft_timeout: Option<Duration>,
    /// Give up on a fetch after this long: [`FetchError::Timeout`] (or the
    /// stale value, if one is there).
    pub hard_timeout: Option<Duration>,
    /// Headers stored with every value (after redaction).
    pub headers: Headers,
    /// Tags stored with every value and every remembered failure
    /// (CONTRACT.md §9): [`Cache::invalidate_tag`](crate::Cache::invalidate_tag)
    /// then drops them together, across namespaces ("everything about this
    /// album, from every API").
    pub tags: Tags,
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
            refresh_ahead: None,
            soft_timeout: None,
            hard_timeout: None,
            headers: Headers::new(),
            tags: Tags::new(),
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

    /// Sets [`FetchPolicy::refresh_ahead`]; `fraction` is clamped to
    /// `0.0..=1.0` (a NaN turns it off).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = (!fraction.is_nan()).then(|| fraction.clamp(0.0, 1.0));
        self
    }

    /// The soft timeout when it comes before the hard one (a soft timeout
    /// at or past the hard one never applies: the hard one gives up first).
    pub(crate) fn soft_before_hard(&self) -> Option<Duration> {
        let soft = self.soft_timeout?;
        match self.hard_timeout {
            Some(hard) if hard <= soft => None,
            _ => Some(soft),
        }
    }

    /// Sets [`FetchPolicy::soft_timeout`].
    pub fn soft_timeout(mut self, after: Duration) -> Self {
        self.soft_timeout = Some(after);
        self
    }

    /// Sets [`FetchPolicy::hard_timeout`].
    pub fn hard_timeout(mut self, after: Duration) -> Self {
        self.hard_timeout = Some(after);
        self
    }

    /// Adds a header stored with every value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a tag stored with every value and remembered failure.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }
}

/// What the cache holds for a key when the fetcher is called: the stored
/// row's metadata, so a fetcher can revalidate (`If-None-Match` from its
/// `etag` header, `If-Modified-Since` from `last-modified`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Previous {
    /// Its headers as stored (redacted, without cachestore's own).
    pub headers: Headers,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// When it stopped (or stops) being fresh.
    pub expires_at: Option<SystemTime>,
}

impl Previous {
    /// A stored header, by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

pub(crate) fn header_of<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// What a fetcher is told.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchContext {
    /// The namespace being fetched.
    pub namespace: String,
    /// The key being fetched.
    pub key: String,
    /// The row the cache holds for it (stale, or fresh when refreshed
    /// ahead of expiry), if any.
    pub previous: Option<Previous>,
}

impl FetchContext {
    /// A header of the previous row, by name in any case.
    pub fn previous_header(&self, name: &str) -> Option<&str> {
        self.previous.as_ref().and_then(|p| p.header(name))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome<T> {
    Value(T),
    NotModified,
}

/// What a fetcher returns: a value, or "not modified" (the previous row is
/// renewed), each with optional headers and its own TTL and stale window.
///
/// ```
/// use std::time::Duration;
/// use cachestore::{Fetched, Ttl};
///
/// // "Successes never expire, failures retry after 5 minutes":
/// let ok: Fetched<String> = Fetched::value("Kind of Blue".into()).ttl(Ttl::Never);
/// let empty: Fetched<String> = Fetched::value(String::new()).ttl(Ttl::For(Duration::from_secs(300)));
/// // An HTTP 304:
/// let same: Fetched<String> = Fetched::not_modified().header("etag", "\"v2\"");
/// # let _ = (ok, empty, same);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Fetched<T> {
    pub(crate) outcome: Outcome<T>,
    pub(crate) headers: Headers,
    pub(crate) ttl: Option<Ttl>,
    pub(crate) stale_for: Option<Duration>,
    pub(crate) store: bool,
    pub(crate) tags: Tags,
}

impl<T> Fetched<T> {
    /// A new value.
    pub fn value(value: T) -> Self {
        Fetched {
            outcome: Outcome::Value(value),
            headers: Headers::new(),
            ttl: None,
            stale_for: None,
            store: true,
            tags: Tags::new(),
        }
    }

    /// The upstream says the previous row is still right (HTTP 304): it is
    /// renewed for the TTL, its payload untouched, and returned. With no
    /// previous row the call fails with [`FetchError::NothingToRevalidate`].
    ///
    /// A row is there to revalidate only until its stale window ends: give
    /// the policy a [`FetchPolicy::stale_for`] (or the response its
    /// `stale-while-revalidate`) that keeps rows past their TTL.
    pub fn not_modified() -> Self {
        Fetched {
            outcome: Outcome::NotModified,
            headers: Headers::new(),
            ttl: None,
            stale_for: None,
            store: true,
            tags: Tags::new(),
        }
    }

    /// Adds a header to store with the row (merged over the policy's and,
    /// for "not modified", over the previous row's).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds headers, as [`Fetched::header`].
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Adds a tag to store with the value (with the policy's). A "not
    /// modified" row keeps the tags it has.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }

    /// This row's TTL, instead of the policy's.
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// This row's stale window, instead of the policy's.
    pub fn stale_for(mut self, window: Duration) -> Self {
        self.stale_for = Some(window);
        self
    }

    /// Return the value without storing it (`Cache-Control: no-store`).
    pub fn no_store(mut self) -> Self {
        self.store = false;
        self
    }
}

impl<T> From<T> for Fetched<T> {
    fn from(value: T) -> Self {
        Fetched::value(value)
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
    /// Its headers as stored: redacted, without cachestore's own
    /// bookkeeping. A value just fetched shows what was stored for it.
    pub headers: Headers,
}

/// Why [`Cache::get_or_fetch`](crate::Cache::get_or_fetch) returned no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError<E> {
    /// The fetcher failed and no stale value was there.
    Fetch(E),
    /// An earlier fetch failed and its failure is cached (negative caching)
    /// until `until`; the fetcher was not called.
    Cached {
        /// The earlier failure, as text (redacted and bounded when stored).
        message: String,
        /// When the fetcher may be called again.
        until: Option<SystemTime>,
    },
    /// The fetch took longer than the policy's hard timeout and no stale
    /// value was there.
    Timeout(Duration),
    /// The fetcher answered "not modified" but the cache held no row to
    /// renew (it expired or was deleted meanwhile): fetch again without
    /// conditional headers.
    NothingToRevalidate,
    /// The store failed, and the cache was built with
    /// [`store_errors_fatal`](crate::CacheBuilder::store_errors_fatal); or
    /// the fetched value could not be encoded.
    Store(Error),
}

impl<E: fmt::Display> fmt::Display for FetchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Fetch(e) => write!(f, "fetch failed: {e}"),
            FetchError::Cached { message, .. } => {
                write!(f, "fetch failed earlier (cached): {message}")
            }
            FetchError::Timeout(after) => write!(f, "fetch timed out after {after:?}"),
            FetchError::NothingToRevalidate => write!(
                f,
                "the fetcher answered \"not modified\" but no cached row was there to renew; \
                 fetch without conditional headers"
            ),
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
            _ => None,
        }
    }
}
