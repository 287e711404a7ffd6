//! A movie-metadata client: hashed, normalised keys; TTLs by request type
//! (search 24 h, details 14 d); hit and miss counters; a health report with
//! entries, the expired ratio and the file size.
//!
//! Run: `cargo run --example movie_metadata --features sqlite`

use std::sync::Arc;
use std::time::Duration;

use cachestore::{Cache, CacheStore, ManualClock, SqliteStore, signature};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Movie {
    id: u32,
    title: String,
}

/// "  The MATRIX " and "the matrix" are one search.
fn search_key(query: &str, year: Option<u16>) -> cachestore::Result<String> {
    let normalised: String = query.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    signature(&("search", normalised, year))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-movies-{}", std::process::id()));
    let path = dir.join("movies.sqlite");
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(&path).clock(clock.clone()).open()?);
    let cache = Cache::builder(Arc::clone(&store))
        .ttl("search", Duration::from_secs(24 * 3600))
        .ttl("details", Duration::from_secs(14 * 86_400))
        .build();

    for query in ["The Matrix", "  the MATRIX ", "the matrix"] {
        let key = search_key(query, Some(1999))?;
        let hits = cache
            .get_or_fetch("search", &key, &cache.policy("search"), || async {
                Ok::<_, String>(vec![Movie { id: 603, title: "The Matrix".into() }])
            })
            .await?;
        println!("search {query:?}: {} result(s), fresh: {}", hits.value.len(), hits.fresh);
    }
    for id in [603u32, 604, 603] {
        let movie = cache
            .get_or_fetch(
                "details",
                &id.to_string(),
                &cache.policy("details"),
                move || async move { Ok::<_, String>(Movie { id, title: format!("Movie {id}") }) },
            )
            .await?;
        println!("details {id}: {}", movie.value.title);
    }
    let (s, d) = (cache.counters("search"), cache.counters("details"));
    println!(
        "search: {} hits, {} misses; details: {} hits, {} misses",
        s.hits, s.misses, d.hits, d.misses
    );
    assert_eq!((s.hits, s.misses, d.hits, d.misses), (2, 1, 1, 2));

    // Two days on: searches have expired, details have not.
    clock.advance(Duration::from_secs(2 * 86_400));
    let stats = store.stats().await?;
    let entries = stats.fresh + stats.stale;
    let purged = store.purge_expired().await?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "health: {entries} live entries, {purged} expired of {} ({:.0}% expired), file {size} bytes",
        entries + purged,
        100.0 * purged as f64 / (entries + purged) as f64
    );
    assert_eq!((entries, purged), (2, 1));
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
