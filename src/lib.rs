//! # cachestore
//!
//! Persistent caches with per-row TTL and a stale window, on a backend you
//! pick by feature flag or URL. Every backend keeps one contract, the
//! [`CacheStore`] trait, and passes one shared conformance suite
//! (`cachestore-conformance`).
//!
//! - [`open`] a store by URL (`memory://`, `sqlite:///path`, `redb:///path`),
//!   or build one directly ([`MemoryStore`], `SqliteStore`, `RedbStore`);
//! - wrap it in a [`Cache`] for typed values, `get_or_fetch` with
//!   single-flight, stale-if-error, negative caching and
//!   stale-while-revalidate, TTLs by category, header redaction, counters
//!   and a background purger; or in a [`BlockingCache`] from sync code.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore::Result<()> {
//! use std::time::Duration;
//! use cachestore::{CacheStore, MemoryStore, SetOptions};
//!
//! let store = MemoryStore::new();
//! let options = SetOptions::for_duration(Duration::from_secs(3600))
//!     .stale_for(Duration::from_secs(86_400))
//!     .header("content-type", "application/json");
//! store.set("tmdb", "movie/603", r#"{"title":"The Matrix"}"#.into(), options).await?;
//! let row = store.get("tmdb", "movie/603").await?.expect("fresh for an hour");
//! assert_eq!(row.headers["content-type"], "application/json");
//! # Ok(()) }
//! ```
//!
//! | feature | adds |
//! |---|---|
//! | `memory` (default) | [`MemoryStore`], in memory on moka |
//! | `sqlite` | `SqliteStore`: one SQLite file, several processes |
//! | `redb` | `RedbStore`: one redb file, one process |
//! | `redis` | `RedisStore`: Redis, single node or cluster, many machines |
//! | `redis-tls` | `rediss://` URLs: TLS through rustls, the system's certificate authorities or `?tls_ca_file=` |
//! | `bincode` | the `Bincode` value codec for [`Cache`] |
//! | `http` | `cachestore::http`: `Cache-Control`, `ETag` and conditional requests for fetchers |
//! | `metrics` | `Cache::export_metrics`, the counters for the `metrics` crate |
//! | `serde` | `Serialize`/`Deserialize` for `Stats`, `NamespaceStats`, `Capabilities`, `Counters` |
//! | `full` | all of the above |
//!
//! The toolkit the backends are built with (group commit, file helpers, row
//! encodings) is `cachestore_core::raw`, for backend authors only; this crate
//! does not re-export it:
//!
//! ```compile_fail
//! use cachestore::raw::group::GroupWriter; // no `raw` here
//! ```
//!
//! ```compile_fail
//! use cachestore::group::GroupWriter; // nor `group`
//! ```
//!
//! ```compile_fail
//! use cachestore::files::move_aside; // nor `files`
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocking;
mod cache;
pub mod codec;
mod counters;
mod fetch;
mod flight;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod keys;
mod lease;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod paths;
mod redaction;
mod traced;
mod url;

// The contract, listed: what only backend authors need (`cachestore_core::raw`:
// group commit, file helpers, row encodings) is not part of this crate.
pub use cachestore_core::{
    BoxError, Bytes, CacheStore, Capabilities, Clock, Condition, Entry, Error, Headers,
    IdentityPart, MAX_KEY_LEN, MAX_NAMESPACE_LEN, MAX_TAG_LEN, MAX_TAGS, MIN_PAYLOAD_LIMIT,
    ManualClock, NamespaceStats, Page, Result, ScanCursor, ScanItem, SetItem, SetOptions,
    SharedClock, Stats, SystemClock, Tags, TouchOptions, Ttl, WriteOutcome, async_trait,
    check_identity, check_namespace, check_tag, check_tags, redact_url,
};

pub use blocking::BlockingCache;
pub use cache::{
    CODEC_HEADER, Cache, CacheBuilder, Categories, INTERNAL_HEADER_PREFIX, NEGATIVE_HEADER, Purger,
    is_internal_header,
};
pub use codec::{Json, ValueCodec};
pub use counters::Counters;
pub use fetch::{Cached, FetchContext, FetchError, FetchPolicy, Fetched, Previous};
#[doc(hidden)]
pub use flight::registered_flights;
pub use keys::signature;
pub use lease::{DEFAULT_LEASE_TTL, LEASE_NAMESPACE};
pub use paths::default_cache_path;
pub use redaction::{
    MAX_FAILURE_TEXT, Redaction, WriteCandidate, WriteGuard, refuse_secret_fields, secret_fields,
};
pub use traced::TracedStore;
pub use url::{open, open_with_clock, percent_encode_path};

/// The in-memory backend (feature `memory`).
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory {
    pub use cachestore_memory::*;
}

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cachestore_memory::{MemoryStore, MemoryStoreBuilder};

/// The SQLite backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    pub use cachestore_sqlite::*;
}

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use cachestore_sqlite::{SqliteStore, SqliteStoreBuilder};

/// The redb backend (feature `redb`).
#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub mod redb {
    pub use cachestore_redb::*;
}

#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub use cachestore_redb::{RedbStore, RedbStoreBuilder};

/// The Redis backend (feature `redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use cachestore_redis::*;
}

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cachestore_redis::{RedisStore, RedisStoreBuilder};

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[cfg(all(doctest, feature = "sqlite", feature = "redis", feature = "http"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The examples of the pages under `docs/`, run as doctests too.
#[cfg(all(doctest, feature = "sqlite", feature = "redb", feature = "redis", feature = "http"))]
#[doc = include_str!("../docs/fetching.md")]
#[doc = include_str!("../docs/backends.md")]
#[doc = include_str!("../docs/performance.md")]
#[doc = include_str!("../docs/backend-authors.md")]
pub struct DocsDoctests;
