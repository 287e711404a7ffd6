//! Quickstart: an API client that caches an upstream's responses in SQLite.
//!
//! It shows a miss, a hit, an expiry, the stale fallback when the upstream
//! is down, and the store's stats. The cache is a SQLite file in a temporary
//! directory (pass a path as the first argument to keep it); time is a
//! `ManualClock`, so an hour passes in a moment.
//!
//! Run: `cargo run --example quickstart --features sqlite`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cachestore::{Bytes, CacheStore, ManualClock, SetOptions, SqliteStore};

/// A slow, rate-limited API, simulated: it counts calls and can go down.
#[derive(Default)]
struct Upstream {
    calls: AtomicU32,
    down: AtomicBool,
}

impl Upstream {
    fn fetch(&self, id: &str) -> Result<String, String> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.down.load(Ordering::SeqCst) {
            return Err("503 Service Unavailable".into());
        }
        Ok(format!(r#"{{"id":"{id}","title":"The Matrix","call":{n}}}"#))
    }
}

/// Fresh from the cache, else from the upstream (and cached for an hour,
/// servable stale for a day), else stale from the cache.
async fn lookup(
    store: &dyn CacheStore,
    upstream: &Upstream,
    id: &str,
) -> cachestore::Result<String> {
    if let Some(row) = store.get("movies", id).await? {
        return Ok(format!("hit    {}", String::from_utf8_lossy(&row.payload)));
    }
    match upstream.fetch(id) {
        Ok(body) => {
            let options = SetOptions::for_duration(Duration::from_secs(3600))
                .stale_for(Duration::from_secs(86_400))
                .header("content-type", "application/json");
            store.set("movies", id, Bytes::from(body.clone()), options).await?;
            Ok(format!("miss   {body} (fetched and stored)"))
        }
        Err(upstream_error) => match store.get_stale("movies", id).await? {
            Some(row) => {
                let age = row.age(store.clock().now()).as_secs() / 60;
                Ok(format!(
                    "stale  {} (upstream said {upstream_error}; served {age} min old)",
                    String::from_utf8_lossy(&row.payload)
                ))
            }
            None => Ok(format!("error  upstream said {upstream_error} and nothing is cached")),
        },
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> cachestore::Result<()> {
    let clock = ManualClock::new();
    let dir = tempfile_dir()?;
    let path = std::env::args().nth(1).map_or_else(|| dir.join("quickstart.sqlite"), Into::into);
    println!("cache file: {}", path.display());
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(&path).clock(clock.clone()).open()?);
    let upstream = Upstream::default();

    let first = lookup(store.as_ref(), &upstream, "603").await?;
    println!("1. first lookup:      {first}");
    let second = lookup(store.as_ref(), &upstream, "603").await?;
    println!("2. second lookup:     {second}");
    clock.advance(Duration::from_secs(3600));
    let later = lookup(store.as_ref(), &upstream, "603").await?;
    println!("3. an hour later:     {later}");
    clock.advance(Duration::from_secs(3600 + 90 * 60));
    upstream.down.store(true, Ordering::SeqCst);
    let down = lookup(store.as_ref(), &upstream, "603").await?;
    println!("4. upstream down:     {down}");
    let never = lookup(store.as_ref(), &upstream, "604").await?;
    println!("5. never cached:      {never}");

    let stats = store.stats().await?;
    let calls = upstream.calls.load(Ordering::SeqCst);
    println!(
        "stats: {} fresh, {} stale, {} payload bytes; upstream calls: {calls}",
        stats.fresh, stats.stale, stats.payload_bytes,
    );
    // What it printed is what happened.
    assert!(first.starts_with("miss") && first.contains(r#""call":1"#), "{first}");
    assert!(second.starts_with("hit") && second.contains(r#""call":1"#), "{second}");
    assert!(later.starts_with("miss") && later.contains(r#""call":2"#), "{later}");
    assert!(down.starts_with("stale") && down.contains("150 min old"), "{down}");
    assert!(never.starts_with("error"), "{never}");
    assert_eq!((stats.fresh, stats.stale, calls), (0, 1, 4));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A fresh private directory under the system's temporary directory.
fn tempfile_dir() -> cachestore::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cachestore-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| cachestore::Error::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}
