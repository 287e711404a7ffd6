//! A music-metadata client over three APIs (MusicBrainz, Discogs, Last.fm),
//! one namespace each, as a tagger application keeps them:
//!
//! - a track found is cached for ever; a lookup that failed is remembered
//!   and tried again after 10 minutes;
//! - every row carries tags for its (artist, album) and its artist, so
//!   "this album was re-released: forget what every API said about it" is
//!   one `invalidate_tag`, across the three namespaces, leaving every other
//!   album alone;
//! - the charts are fetched with a one-hour TTL and refreshed ahead of
//!   expiry in the background; a clean shutdown waits for that refresh;
//! - cleanup of expired rows, "forget everything", and the counts from
//!   `stats()` and the cache's counters.
//!
//! Each claim is asserted; upstream calls are counted per API.
//!
//! Run: `cargo run --example music_metadata --features sqlite`

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachestore::{
    Cache, CacheStore, FetchError, FetchPolicy, Fetched, ManualClock, SqliteStore, signature,
};

const SOURCES: [&str; 3] = ["musicbrainz", "discogs", "lastfm"];
const MINUTE: Duration = Duration::from_secs(60);

/// Upstream calls, per API.
#[derive(Default)]
struct Upstream(Mutex<BTreeMap<&'static str, u32>>);

impl Upstream {
    fn call(&self, source: &'static str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(source).or_default() += 1;
    }

    fn total(&self) -> u32 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }
}

/// The tag of an (artist, album): a signature, so any names fit the
/// 255-byte tag limit and no separator can make two albums collide.
fn album_tag(artist: &str, album: &str) -> cachestore::Result<String> {
    Ok(format!("album:{}", signature(&(artist, album))?))
}

fn artist_tag(artist: &str) -> cachestore::Result<String> {
    Ok(format!("artist:{}", signature(&artist)?))
}

/// Looks a track up on one API, through the cache: tagged with its album
/// and artist; "Bonus Track" is missing everywhere (the lookup fails).
async fn track(
    cache: &Cache,
    upstream: &Arc<Upstream>,
    source: &'static str,
    (artist, album, title): (&str, &str, &str),
) -> Result<String, FetchError<String>> {
    let policy = FetchPolicy::forever()
        .negative_ttl(10 * MINUTE)
        .tag(album_tag(artist, album).map_err(FetchError::Store)?)
        .tag(artist_tag(artist).map_err(FetchError::Store)?);
    let key = signature(&(artist, album, title)).map_err(FetchError::Store)?;
    let (upstream, title) = (Arc::clone(upstream), title.to_owned());
    let found = cache
        .get_or_fetch_with(source, &key, &policy, move |_ctx| async move {
            upstream.call(source);
            if title == "Bonus Track" {
                return Err(format!("{source}: no such recording"));
            }
            Ok(Fetched::value(format!("{title} ({source})")))
        })
        .await?;
    Ok(found.value)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-music-{}", std::process::id()));
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(dir.join("music.sqlite")).clock(clock.clone()).open()?);
    let cache = Cache::new(Arc::clone(&store));
    let upstream = Arc::new(Upstream::default());

    let mezzanine =
        [("Massive Attack", "Mezzanine", "Angel"), ("Massive Attack", "Mezzanine", "Teardrop")];
    let blue_lines = [("Massive Attack", "Blue Lines", "Unfinished Sympathy")];
    let ok_computer =
        [("Radiohead", "OK Computer", "Airbag"), ("Radiohead", "OK Computer", "Lucky")];
    let library: Vec<_> =
        mezzanine.iter().chain(&blue_lines).chain(&ok_computer).copied().collect();

    // Every track on every API: 5 tracks x 3 APIs, each fetched once.
    for source in SOURCES {
        for &t in &library {
            track(&cache, &upstream, source, t).await?;
        }
    }
    assert_eq!(upstream.total(), 15);
    // A year later, still cached: successes never expire.
    clock.advance(Duration::from_secs(365 * 86_400));
    for source in SOURCES {
        for &t in &library {
            track(&cache, &upstream, source, t).await?;
        }
    }
    assert_eq!(upstream.total(), 15, "a cached track went back to its API");
    println!("15 tracks from 3 APIs, fetched once, still cached a year later");

    // A failed lookup is remembered, then tried again after 10 minutes.
    let bonus = ("Massive Attack", "Mezzanine", "Bonus Track");
    let first = track(&cache, &upstream, "discogs", bonus).await;
    let again = track(&cache, &upstream, "discogs", bonus).await;
    assert!(matches!(first, Err(FetchError::Fetch(_))), "{first:?}");
    assert!(matches!(again, Err(FetchError::Cached { .. })), "{again:?}");
    assert_eq!(upstream.total(), 16, "the remembered failure went upstream again");
    clock.advance(11 * MINUTE);
    let retried = track(&cache, &upstream, "discogs", bonus).await;
    assert!(matches!(retried, Err(FetchError::Fetch(_))));
    assert_eq!(upstream.total(), 17);
    println!("a failed lookup is remembered, and tried again after 10 minutes");

    // Mezzanine was re-released: forget everything any API said about it
    // (2 tracks x 3 APIs, and the remembered failure), in one call.
    let forgotten = cache.invalidate_tag(&album_tag("Massive Attack", "Mezzanine")?).await?;
    println!("Mezzanine re-released: {forgotten} rows forgotten across {} APIs", SOURCES.len());
    assert_eq!(forgotten, 7, "2 tracks on 3 APIs and one remembered failure");
    let before = upstream.total();
    for source in SOURCES {
        for &t in blue_lines.iter().chain(&ok_computer) {
            track(&cache, &upstream, source, t).await?;
        }
    }
    assert_eq!(upstream.total(), before, "another album was invalidated with it");
    for source in SOURCES {
        for &t in &mezzanine {
            track(&cache, &upstream, source, t).await?;
        }
    }
    assert_eq!(upstream.total(), before + 6, "Mezzanine was not fetched again");
    println!("the other albums stayed cached; Mezzanine was fetched again (6 calls)");
    // The artist's tag reaches both of their albums, on every API.
    let artist = cache.invalidate_tag(&artist_tag("Massive Attack")?).await?;
    assert_eq!(artist, 9, "Mezzanine (2 tracks) and Blue Lines (1) on 3 APIs");

    // The charts: fresh for an hour, refreshed in the background once
    // half of that has passed; shutdown waits for the refresh.
    let charts = FetchPolicy::new(60 * MINUTE).refresh_ahead(0.5);
    let week = Arc::new(AtomicU32::new(1));
    let lookup_charts = || {
        let (week, upstream) = (Arc::clone(&week), Arc::clone(&upstream));
        let fetch = move || async move {
            upstream.call("lastfm");
            Ok::<_, String>(format!("top tracks, week {}", week.load(Ordering::SeqCst)))
        };
        cache.get_or_fetch("lastfm", "charts", &charts, fetch)
    };
    assert_eq!(lookup_charts().await?.value, "top tracks, week 1");
    week.store(2, Ordering::SeqCst);
    clock.advance(35 * MINUTE);
    let c = lookup_charts().await?;
    assert_eq!(c.value, "top tracks, week 1", "served at once while the refresh runs");
    cache.shutdown().await;
    let stored = cache.get::<String>("lastfm", "charts").await?;
    assert_eq!(
        stored.as_deref(),
        Some("top tracks, week 2"),
        "shutdown did not wait for the refresh"
    );
    println!("the charts were refreshed ahead of expiry; shutdown waited for it");

    // Cleanup: the charts row expires; purging removes it, then nothing.
    clock.advance(2 * 60 * MINUTE);
    let stats = store.stats().await?;
    println!(
        "stats: {} fresh, {} expired waiting for cleanup, {} namespaces",
        stats.fresh,
        stats.dead,
        stats.namespaces.len()
    );
    assert_eq!((stats.fresh, stats.dead), (6, 1), "the OK Computer tracks, and the old charts");
    assert_eq!(store.purge_expired().await?, 1);
    let counters = cache.counters("musicbrainz");
    println!(
        "musicbrainz: {} hits, {} misses, {} fetches",
        counters.hits, counters.misses, counters.fetches
    );
    assert_eq!(counters.fetches, 5 + 2, "5 tracks, then Mezzanine's 2 again");
    // Forget everything.
    assert_eq!(store.clear_all().await?, 6);
    assert_eq!(store.stats().await?.fresh, 0);
    println!("cache cleared");
    drop((cache, store));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
