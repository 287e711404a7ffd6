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
//! `expiry_grace_ms=` and `max_payload=`; the rest of the URL goes to the
//! redis crate as it is. An unknown option is an error, so a typo cannot
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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use cachestore_core::{CacheStore, Error, Result, SharedClock, SystemClock};

/// `path` as the path part of a store URL: `%`, `?`, `#` and the characters
/// a URL cannot hold as they are are percent-encoded; `/` stays. `open`
/// decodes it back to the same path.
pub fn percent_encode_path(path: &std::path::Path) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');
    utf8_percent_encode(&path.to_string_lossy(), PATH).to_string()
}

/// Opens the store a URL names, on the system clock.
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
    let parsed = StoreUrl::parse(url)?;
    match parsed.scheme.as_str() {
        "memory" => memory(&parsed, clock),
        "sqlite" => sqlite(&parsed, clock),
        "redb" => redb(&parsed, clock),
        "redis" | "rediss" => redis(&parsed, clock),
        other => Err(config(format!(
            "{}: unknown scheme {other:?}; cachestore opens memory://, sqlite:///path, \
             redb:///path, redis:// and rediss://",
            parsed.url
        ))),
    }
}

fn config(message: String) -> Error {
    Error::Config { message }
}

/// A URL split into scheme, path and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    /// The URL as messages show it: without its secrets.
    pub(crate) url: String,
    /// The URL as given, for connecting only; never shown.
    raw: String,
    pub(crate) scheme: String,
    pub(crate) path: String,
    pub(crate) options: BTreeMap<String, String>,
}

impl StoreUrl {
    pub(crate) fn parse(url: &str) -> Result<StoreUrl> {
        // Messages show the URL without its secrets, never as given.
        let shown = cachestore_core::redact_url(url);
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            config(format!("{shown:?} is not a store URL; expected scheme://path, e.g. sqlite:///var/cache/app.sqlite"))
        })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut options = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            options.insert(decode(&shown, k)?, decode(&shown, v)?);
        }
        Ok(StoreUrl {
            scheme: scheme.to_ascii_lowercase(),
            path: decode(&shown, path)?,
            url: shown,
            raw: url.to_owned(),
            options,
        })
    }

    /// The file path: `sqlite:///abs` is `/abs`, `sqlite://rel` is `rel`.
    pub(crate) fn file(&self) -> Result<PathBuf> {
        if self.path.is_empty() {
            return Err(config(format!(
                "{}: no file path; e.g. {}:///var/cache/app.db",
                self.url, self.scheme
            )));
        }
        Ok(PathBuf::from(&self.path))
    }

    fn take(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    fn take_bool(&mut self, key: &str) -> Result<Option<bool>> {
        self.take(key)
            .map(|v| match v.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(config(format!("{}: {key}={v:?} is not true or false", self.url))),
            })
            .transpose()
    }

    fn take_u64(&mut self, key: &str) -> Result<Option<u64>> {
        self.take(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| config(format!("{}: {key}={v:?} is not a whole number", self.url)))
            })
            .transpose()
    }

    /// Fails on any option no one took.
    fn finish(&self) -> Result<()> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(k) => {
                Err(config(format!("{}: unknown option {k:?} for {}://", self.url, self.scheme)))
            }
        }
    }
}

fn decode(shown: &str, s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| config(format!("{shown}: a part does not percent-decode to UTF-8")))
}

#[cfg(feature = "memory")]
fn memory(url: &StoreUrl, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    let mut url = url.clone();
    let mut builder = cachestore_memory::MemoryStore::builder().shared_clock(clock);
    if let Some(bytes) = url.take_u64("capacity_bytes")? {
        builder = builder.max_capacity_bytes(bytes);
    }
    if let Some(bytes) = url.take_u64("max_payload")? {
        builder = builder.max_payload(bytes);
    }
    url.finish()?;
    Ok(Arc::new(builder.build()?))
}

#[cfg(not(feature = "memory"))]
fn memory(url: &StoreUrl, _: SharedClock) -> Result<Arc<dyn CacheStore>> {
    Err(feature_off(url, "memory"))
}

#[cfg(feature = "sqlite")]
fn sqlite(url: &StoreUrl, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    use cachestore_sqlite::{Durability, SqliteStore};
    let mut url = url.clone();
    let mut builder = SqliteStore::builder(url.file()?).shared_clock(clock);
    if let Some(d) = url.take("durability") {
        builder = builder.durability(match d.as_str() {
            "normal" => Durability::Normal,
            "full" => Durability::Full,
            _ => {
                return Err(config(format!(
                    "{}: durability={d:?}; sqlite takes normal or full",
                    url.url
                )));
            }
        });
    }
    if let Some(on) = url.take_bool("recreate_if_corrupt")? {
        builder = builder.recreate_if_corrupt(on);
    }
    if let Some(bytes) = url.take_u64("max_payload")? {
        builder = builder.max_payload(bytes);
    }
    if let Some(ms) = url.take_u64("busy_timeout_ms")? {
        builder = builder.busy_timeout(std::time::Duration::from_millis(ms));
    }
    url.finish()?;
    Ok(Arc::new(builder.open()?))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(url: &StoreUrl, _: SharedClock) -> Result<Arc<dyn CacheStore>> {
    Err(feature_off(url, "sqlite"))
}

#[cfg(feature = "redb")]
fn redb(url: &StoreUrl, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    use cachestore_redb::{Durability, RedbStore};
    let mut url = url.clone();
    let mut builder = RedbStore::builder(url.file()?).shared_clock(clock);
    if let Some(d) = url.take("durability") {
        builder = builder.durability(match d.as_str() {
            "immediate" => Durability::Immediate,
            "buffered" => Durability::Buffered,
            _ => {
                return Err(config(format!(
                    "{}: durability={d:?}; redb takes immediate or buffered",
                    url.url
                )));
            }
        });
    }
    if let Some(on) = url.take_bool("recreate_if_corrupt")? {
        builder = builder.recreate_if_corrupt(on);
    }
    if let Some(bytes) = url.take_u64("max_payload")? {
        builder = builder.max_payload(bytes);
    }
    url.finish()?;
    Ok(Arc::new(builder.open()?))
}

#[cfg(not(feature = "redb"))]
fn redb(url: &StoreUrl, _: SharedClock) -> Result<Arc<dyn CacheStore>> {
    Err(feature_off(url, "redb"))
}

#[cfg(feature = "redis")]
fn redis(url: &StoreUrl, clock: SharedClock) -> Result<Arc<dyn CacheStore>> {
    use std::time::Duration;
    let mut url = url.clone();
    let mut builder_options = Vec::new();
    let prefix = url.take("prefix");
    let cluster = url.take_bool("cluster")?;
    for (key, set) in
        [("connect_timeout_ms", 0), ("response_timeout_ms", 1), ("expiry_grace_ms", 2)]
    {
        if let Some(ms) = url.take_u64(key)? {
            builder_options.push((set, Duration::from_millis(ms)));
        }
    }
    let max_payload = url.take_u64("max_payload")?;
    // What is left of the query (`protocol=resp3`, say) is the redis crate's.
    let rest: Vec<String> = url.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = url.raw.split('?').next().unwrap_or(&url.raw).to_owned();
    let target = if rest.is_empty() { base } else { format!("{base}?{}", rest.join("&")) };
    let mut builder = cachestore_redis::RedisStore::builder(target).shared_clock(clock);
    if let Some(p) = prefix {
        builder = builder.prefix(p);
    }
    if let Some(on) = cluster {
        builder = builder.cluster(on);
    }
    for (which, d) in builder_options {
        builder = match which {
            0 => builder.connect_timeout(d),
            1 => builder.response_timeout(d),
            _ => builder.expiry_grace(d),
        };
    }
    if let Some(bytes) = max_payload {
        builder = builder.max_payload(bytes);
    }
    // open() is sync; connecting is async. Connect on a small runtime of our
    // own when none is running, else on the caller's.
    let open = builder.open();
    let store = match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(open)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting a runtime to connect to Redis", e))?
            .block_on(open),
    }?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
fn redis(url: &StoreUrl, _: SharedClock) -> Result<Arc<dyn CacheStore>> {
    Err(feature_off(url, "redis"))
}

#[allow(dead_code)]
fn feature_off(url: &StoreUrl, feature: &str) -> Error {
    config(format!(
        "{}: the {}:// backend is not compiled in; enable cachestore's `{feature}` feature \
         (cargo add cachestore --features {feature})",
        url.url, url.scheme
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_path_and_options() {
        let u = StoreUrl::parse("SQLite:///var/cache/my%20app.sqlite?durability=full&x=")
            .expect("parse");
        assert_eq!(u.scheme, "sqlite");
        assert_eq!(u.path, "/var/cache/my app.sqlite");
        assert_eq!(u.options.get("durability").map(String::as_str), Some("full"));
        assert_eq!(u.options.get("x").map(String::as_str), Some(""));
        let rel = StoreUrl::parse("redb://cache/app.redb").expect("parse");
        assert_eq!(rel.file().expect("file"), PathBuf::from("cache/app.redb"));
        assert!(StoreUrl::parse("no-scheme").is_err());
        assert!(StoreUrl::parse("sqlite://").expect("parse").file().is_err());
    }

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
