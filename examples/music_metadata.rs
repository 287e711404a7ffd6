//! A music-metadata cache: successful lookups never expire, failures retry
//! after a short TTL, and when a track changes every row of its (artist,
//! album) group is invalidated: the group is a namespace, so one
//! `clear_namespace` does it.
//!
//! Run: `cargo run --example music_metadata --features sqlite`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchError, FetchPolicy, ManualClock, SqliteStore, signature};

/// The namespace of an (artist, album) group: a signature, so any artist or
/// album name fits the 255-byte namespace limit.
fn group(artist: &str, album: &str) -> cachestore::Result<String> {
    Ok(format!("album:{}", signature(&(artist, album))?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-music-{}", std::process::id()));
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(dir.join("music.sqlite")).clock(clock.clone()).open()?);
    let cache = Cache::new(Arc::clone(&store));
    // Found: cached for ever; not found: retried after 10 minutes.
    let policy = FetchPolicy::forever().negative_ttl(Duration::from_secs(600));
    let calls = Arc::new(AtomicU32::new(0));

    let ns = group("Massive Attack", "Mezzanine")?;
    for track in ["Angel", "Teardrop", "Inertia Creeps"] {
        let c = Arc::clone(&calls);
        let t = track.to_owned();
        cache
            .get_or_fetch(&ns, track, &policy, move || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(format!("{t}: 6:18"))
            })
            .await?;
    }
    let lookup_missing = |calls: Arc<AtomicU32>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<String, _>("not found".to_owned())
        }
    };
    let first =
        cache.get_or_fetch(&ns, "Bonus Track", &policy, lookup_missing(Arc::clone(&calls))).await;
    let again =
        cache.get_or_fetch(&ns, "Bonus Track", &policy, lookup_missing(Arc::clone(&calls))).await;
    assert!(
        matches!(first, Err(FetchError::Fetch(_)))
            && matches!(again, Err(FetchError::Cached { .. }))
    );
    println!("a failed lookup is remembered: the second call did not reach the upstream");
    clock.advance(Duration::from_secs(601));
    let retried =
        cache.get_or_fetch(&ns, "Bonus Track", &policy, lookup_missing(Arc::clone(&calls))).await;
    assert!(matches!(retried, Err(FetchError::Fetch(_))));
    println!(
        "after 10 minutes it is tried again; upstream calls so far: {}",
        calls.load(Ordering::SeqCst)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);

    // A track of the album changed: invalidate the whole (artist, album) group.
    let cleared = store.clear_namespace(&ns).await?;
    println!("\"Teardrop\" changed: {cleared} rows of its (artist, album) group invalidated");
    assert_eq!(cleared, 4, "three tracks and one remembered failure");
    assert_eq!(cache.get::<String>(&ns, "Angel").await?, None);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
