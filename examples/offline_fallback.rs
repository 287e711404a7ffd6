//! Offline fallback: the primary source goes down, and the cache serves its
//! stale rows with their age, then reports fresh and stale counts and the
//! oldest entry's age.
//!
//! Run: `cargo run --example offline_fallback --features sqlite`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchPolicy, ManualClock, SqliteStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-offline-{}", std::process::id()));
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(dir.join("offline.sqlite")).clock(clock.clone()).open()?);
    let cache = Cache::new(Arc::clone(&store));
    let online = Arc::new(AtomicBool::new(true));
    // Fresh for an hour; servable stale for a week when the source is down.
    let policy =
        FetchPolicy::new(Duration::from_secs(3600)).stale_for(Duration::from_secs(7 * 86_400));

    let stations = ["kexp", "wfmu", "nts", "fip"];
    for (i, id) in stations.iter().enumerate() {
        let up = Arc::clone(&online);
        let id = (*id).to_owned();
        cache
            .get_or_fetch("stations", &id.clone(), &policy, move || async move {
                if up.load(Ordering::SeqCst) {
                    Ok(format!("{id}: now playing"))
                } else {
                    Err("offline")
                }
            })
            .await?;
        // The rows are stored a day apart.
        if i + 1 < stations.len() {
            clock.advance(Duration::from_secs(86_400));
        }
    }

    online.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2 * 3600));
    println!("the primary source is down:");
    for id in stations {
        let up = Arc::clone(&online);
        let got = cache
            .get_or_fetch("stations", id, &policy, move || async move {
                if up.load(Ordering::SeqCst) {
                    Ok("unreachable".to_owned())
                } else {
                    Err("offline")
                }
            })
            .await?;
        assert!(!got.fresh);
        println!("  {:<22} stale, {} h old", got.value, got.age.as_secs() / 3600);
    }

    let stats = store.stats().await?;
    let page = store.scan(Some("stations"), None, 100).await?;
    let now = store.clock().now();
    let oldest = page.items.iter().map(|i| i.entry.age(now)).max().unwrap_or_default();
    println!(
        "stats: {} fresh, {} stale; oldest entry {} h old; {} served stale",
        stats.fresh,
        stats.stale,
        oldest.as_secs() / 3600,
        cache.counters("stations").stale_served
    );
    assert_eq!((stats.fresh, stats.stale), (0, 4));
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
