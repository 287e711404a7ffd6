//! Opening a store from a URL: the backend is picked by the scheme, options
//! by the query. There is no registration step: every backend compiled in
//! (by its feature) is known, and a scheme whose feature is off is a typed
//! error naming the feature.
//!
//! | URL | store |
//! |---|---|
//! | `memory://` | [`MemoryStore`](crate::MemoryStore); `?capacity_bytes=N` bounds it |
//! | `sqlite:///abs/path.sqlite`, `sqlite://rel/path.sqlite` | `SqliteStore` (feature `sqlite`) |
//! | `redb:///abs/path.redb`, `redb://rel/path.redb` | `RedbStore` (feature `redb`) |
//! | `redis://[user:password@]host:port/db` | `RedisStore` (feature `redis`) |
//!
//! Query options (file backends): `durability=normal|full` (SQLite) or
//! `durability=immediate|buffered` (redb), `recreate_if_corrupt=true`,
//! `max_payload=BYTES`; SQLite also `busy_timeout_ms=MS`. Redis takes
//! `prefix=`, `cluster=true`, `connect_timeout_ms=`, `response_timeout_ms=`,
//! `expiry_grace_ms=` and `max_payload=`, and passes the redis crate's own
//! (`protocol=`, `db=`) to it. An unknown option is an error, so a typo cannot
//! silently fall back to a default.
//!
//! Paths are percent-decoded after the query is split off: a path with a
//! `?` in it is written `%3F`, a `%` is `%25`, a space `%20` (a `%` that
//! starts no escape is taken as it is). [`percent_encode_path`] does it:
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # fn main() -> cachestore::Result<()> {
//! let dir = std::env::temp_dir().join(format!("odd ? 100% {}", std::process::id()));
//! let path = dir.join("cache?.sqlite");
//! let url = format!("sqlite://{}", cachestore::percent_encode_path(&path));
//! assert!(url.contains("%3F") && url.contains("%25"));
//! let store = cachestore::open(&format!("{url}?durability=full"))?;
//! drop(store);
//! assert!(path.exists());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```

use std::sync::Arc;

use cachestore_core::raw::url::StoreUrl;
use cachestore_core::{CacheStore, Error, Result, SharedClock, SystemClock};

/// `path` as the path part of a store URL: `%`, `?`, `#` and the characters
/// a URL cannot hold as they are are percent-encoded; `/` stays. `open`
/// decodes it back to the same path.
pub fn percent_encode_path(path: &std::path::Path) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');
    utf8_percent_encode(&path.to_string_lossy(), PATH).to_string()
}

/// Opens the store a URL names, on the system clock. Its operations run in
/// `tracing` spans ([`TracedStore`](crate::TracedStore)).
///
/// A file store is opened at once (blocking for the open). A Redis store
/// connects at its first operation (see `RedisStoreBuilder::open_lazy`), so
/// `open` never blocks on the network and works from a current-thread
/// runtime, a multi-thread one or none; an unreachable server or a wrong
/// password is the first operation's error.
///
/// ```
/// # fn main() -> cachestore::Result<()> {
/// let store = cachestore::open("memory://")?;
/// assert!(!store.capabilities().persistent);
/// let err = cachestore::open("ftp://example").map(drop).expect_err("unknown scheme");
/// assert!(err.to_string().contains("unknown scheme"));
/// # Ok(()) }
/// ```
pub fn open(url: &str) -> Result<Arc<dyn CacheStore>> {
    open_with_clock(url, Arc::new(SystemClock))
}

/// [`open`] with the clock every phase is judged by (a `ManualClock` in tests).
pub fn open_with_clock(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    // Only the scheme is read here: each backend's `from_url` takes its own
    // options, and refuses any it does not know.
    let parsed = StoreUrl::parse(url)?;
    let (store, backend) = match parsed.scheme() {
        "memory" => (memory(url, clock)?, "memory"),
        "sqlite" => (sqlite(url, clock)?, "sqlite"),
        "redb" => (redb(url, clock)?, "redb"),
        "redis" | "rediss" => (redis(url, clock)?, "redis"),
        other => {
            return Err(config(format!(
                "{}: unknown scheme {other:?}; cachestore opens memory://, sqlite:///path, \
                 redb:///path, redis:// and rediss://",
                parsed.shown()
            )));
        }
    };
    Ok(Arc::new(crate::TracedStore::new(store, backend)))
}

fn config(message: String) -> Error {
    Error::Config { message }
}

#[cfg(feature = "memory")]
fn memory(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    let builder = cachestore_memory::MemoryStoreBuilder::from_url(url)?;
    Ok(Arc::new(builder.shared_clock(clock).build()?))
}

#[cfg(feature = "sqlite")]
fn sqlite(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    let builder = cachestore_sqlite::SqliteStoreBuilder::from_url(url)?;
    Ok(Arc::new(builder.shared_clock(clock).open()?))
}

#[cfg(feature = "redb")]
fn redb(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    let builder = cachestore_redb::RedbStoreBuilder::from_url(url)?;
    Ok(Arc::new(builder.shared_clock(clock).open()?))
}

#[cfg(feature = "redis")]
fn redis(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    // Connecting is async: the store connects at its first operation, on the
    // runtime that runs it, so this works from any runtime flavour and from
    // none, without blocking or panicking.
    let builder = cachestore_redis::RedisStoreBuilder::from_url(url)?;
    Ok(Arc::new(builder.shared_clock(clock).open_lazy()?))
}

/// The backends whose feature is off: a typed error naming the feature.
macro_rules! feature_off {
    ($($feature:literal => $name:ident),*) => {$(
        #[cfg(not(feature = $feature))]
        fn $name(url: &str, _: SharedClock) -> Result<Arc<dyn CacheStore>> {
            Err(config(format!(
                "{}: the {}:// backend is not compiled in; enable cachestore's `{}` feature \
                 (cargo add cachestore --features {})",
                cachestore_core::redact_url(url),
                $feature,
                $feature,
                $feature
            )))
        }
    )*};
}

feature_off!("memory" => memory, "sqlite" => sqlite, "redb" => redb, "redis" => redis);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_options_and_bad_values_are_errors() {
        let err = open("memory://?capasity_bytes=5").map(drop).expect_err("typo");
        assert!(err.to_string().contains("unknown option \"capasity_bytes\""), "{err}");
        let err = open("memory://?capacity_bytes=lots").map(drop).expect_err("not a number");
        assert!(err.to_string().contains("not a whole number"), "{err}");
        assert!(open("memory://?capacity_bytes=1000000").is_ok());
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_without_its_feature_names_the_feature() {
        let err = open("redis://127.0.0.1/").map(drop).expect_err("redis");
        assert!(err.to_string().contains("`redis` feature"), "{err}");
    }

    #[cfg(not(feature = "sqlite"))]
    #[test]
    fn a_scheme_whose_feature_is_off_names_the_feature() {
        let err = open("sqlite:///tmp/x.sqlite").map(drop).expect_err("feature off");
        assert!(err.to_string().contains("`sqlite` feature"), "{err}");
    }
}
