//! HTTP helpers for fetchers (feature `http`): what a response says about
//! caching, turned into a [`Fetched`], and the conditional request headers
//! that revalidate a stored row. On the `http` crate's types; no client,
//! not a full HTTP cache (no `Vary`, no shared-cache rules).
//!
//! ```
//! use std::time::Duration;
//! use cachestore::http::{CacheControl, conditional_headers, fetched, not_modified};
//! use cachestore::{FetchContext, Fetched};
//! use http::{HeaderMap, HeaderValue};
//!
//! let mut response = HeaderMap::new();
//! response.insert("cache-control", HeaderValue::from_static("max-age=600, stale-if-error=86400"));
//! response.insert("etag", HeaderValue::from_static("\"v7\""));
//! let row: Fetched<String> = fetched(&response, "{}".to_owned());
//! # let _ = row;
//! assert_eq!(CacheControl::from_headers(&response).max_age, Some(Duration::from_secs(600)));
//! ```

use std::time::Duration;

use cachestore_core::{Headers, Ttl};
use http::{HeaderMap, HeaderValue};

use crate::fetch::{FetchContext, Fetched};

/// The response headers a row keeps: what revalidation and a reader need.
pub const KEPT_HEADERS: &[&str] =
    &["cache-control", "content-type", "content-language", "etag", "expires", "last-modified"];

/// The caching directives of a `Cache-Control` header (RFC 9111), as a
/// private cache reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `max-age`: fresh for this long.
    pub max_age: Option<Duration>,
    /// `no-store`: do not store the response.
    pub no_store: bool,
    /// `no-cache`: store it, but revalidate before every use (stored
    /// already stale).
    pub no_cache: bool,
    /// `stale-while-revalidate`: may be served stale this long while it is
    /// refreshed.
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error`: may be served stale this long when a fetch fails.
    pub stale_if_error: Option<Duration>,
}

impl CacheControl {
    /// Parses one header value. Unknown directives and malformed numbers
    /// are ignored (as RFC 9111 asks).
    pub fn parse(value: &str) -> Self {
        let mut cc = CacheControl::default();
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let secs = arg.and_then(|a| a.parse::<u64>().ok()).map(Duration::from_secs);
            match name.to_ascii_lowercase().as_str() {
                "max-age" => cc.max_age = secs.or(cc.max_age),
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = true,
                "stale-while-revalidate" => cc.stale_while_revalidate = secs,
                "stale-if-error" => cc.stale_if_error = secs,
                _ => {}
            }
        }
        cc
    }

    /// Every `Cache-Control` header of a response, together.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let joined: Vec<&str> = headers
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Self::parse(&joined.join(","))
    }

    /// Applies these directives to a [`Fetched`]: `max-age` (less the
    /// response's `Age`) is the TTL, `no-cache` a zero TTL, the larger of
    /// the two stale windows its stale window, `no-store` not stored. With
    /// no `max-age` the policy's TTL stays.
    pub fn apply<T>(&self, mut row: Fetched<T>, age: Duration) -> Fetched<T> {
        if self.no_cache {
            row = row.ttl(Ttl::For(Duration::ZERO));
        } else if let Some(max_age) = self.max_age {
            row = row.ttl(Ttl::For(max_age.saturating_sub(age)));
        }
        let stale = self.stale_while_revalidate.max(self.stale_if_error);
        if let Some(stale) = stale {
            row = row.stale_for(stale);
        }
        if self.no_store {
            row = row.no_store();
        }
        row
    }
}

fn age(headers: &HeaderMap) -> Duration {
    headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
}

fn kept(headers: &HeaderMap) -> Headers {
    let mut out = Headers::new();
    for name in KEPT_HEADERS {
        if let Some(value) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            out.insert((*name).to_owned(), value.to_owned());
        }
    }
    out
}

/// A 2xx response's value as a [`Fetched`]: its [`KEPT_HEADERS`], and TTL,
/// stale window and `no-store` from its `Cache-Control`.
pub fn fetched<T>(headers: &HeaderMap, value: T) -> Fetched<T> {
    let row = Fetched::value(value).headers(kept(headers));
    CacheControl::from_headers(headers).apply(row, age(headers))
}

/// A `304 Not Modified` response as a [`Fetched`]: the stored row is
/// renewed, with the response's [`KEPT_HEADERS`] and `Cache-Control`.
pub fn not_modified<T>(headers: &HeaderMap) -> Fetched<T> {
    let row = Fetched::not_modified().headers(kept(headers));
    CacheControl::from_headers(headers).apply(row, age(headers))
}

/// The request headers that revalidate the previous row: `If-None-Match`
/// from its `etag`, `If-Modified-Since` from its `last-modified`. Empty
/// when nothing is cached (or the values are not valid header values).
pub fn conditional_headers(context: &FetchContext) -> HeaderMap {
    let mut out = HeaderMap::new();
    let pairs =
        [(http::header::IF_NONE_MATCH, "etag"), (http::header::IF_MODIFIED_SINCE, "last-modified")];
    for (request, stored) in pairs {
        if let Some(v) = context.previous_header(stored).and_then(|v| HeaderValue::from_str(v).ok())
        {
            out.insert(request, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_parses_what_a_private_cache_reads() {
        let cc = CacheControl::parse(
            "public, MAX-AGE=60, stale-while-revalidate=30, stale-if-error=\"600\", x=1, max-age=oops",
        );
        assert_eq!(cc.max_age, Some(Duration::from_secs(60)));
        assert_eq!(cc.stale_while_revalidate, Some(Duration::from_secs(30)));
        assert_eq!(cc.stale_if_error, Some(Duration::from_secs(600)));
        assert!(!cc.no_store && !cc.no_cache);
        assert!(CacheControl::parse("no-store").no_store);
        assert_eq!(CacheControl::parse(""), CacheControl::default());
    }

    #[test]
    fn a_response_sets_ttl_stale_window_and_kept_headers() {
        let mut h = HeaderMap::new();
        h.insert("cache-control", HeaderValue::from_static("max-age=100, stale-if-error=50"));
        h.insert("age", HeaderValue::from_static("40"));
        h.insert("etag", HeaderValue::from_static("\"a\""));
        h.insert("set-cookie", HeaderValue::from_static("s=1"));
        let row = fetched(&h, 1u8);
        assert_eq!(row.ttl, Some(Ttl::For(Duration::from_secs(60))));
        assert_eq!(row.stale_for, Some(Duration::from_secs(50)));
        assert_eq!(row.headers.get("etag").map(String::as_str), Some("\"a\""));
        assert!(!row.headers.contains_key("set-cookie"));
        assert!(row.store);
        h.insert("cache-control", HeaderValue::from_static("no-store"));
        assert!(!fetched(&h, 1u8).store);
    }
}
