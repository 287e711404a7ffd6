//! An anime-metadata client's cache, as animedex-style tools keep one: the
//! cache is consulted before any HTTP call; each response is stored with
//! its headers and read back with its payload, headers and when it was
//! fetched; TTLs by category; a purge of dead rows; the store in the
//! platform's cache directory (`default_cache_path`) unless a path is
//! given; an injectable clock; and a self-test, which checks the cache the
//! way a `doctor` command would, before anything else.
//!
//! Run: `cargo run --example metadata_client --features sqlite`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use cachestore::{Cache, CacheStore, Clock, Fetched, ManualClock, SqliteStore, signature};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Anime {
    id: u32,
    title: String,
    episodes: u32,
}

/// The upstream API: counts every HTTP call it receives.
#[derive(Default)]
struct Api {
    calls: AtomicUsize,
}

impl Api {
    async fn get(&self, path: &str) -> Result<(Anime, Vec<(&'static str, String)>), String> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let id: u32 = path.rsplit('/').next().and_then(|s| s.parse().ok()).ok_or("bad path")?;
        let headers = vec![
            ("content-type", "application/json".to_owned()),
            ("etag", format!("\"{id}-{n}\"")),
            ("x-ratelimit-remaining", (90 - n).to_string()),
        ];
        Ok((Anime { id, title: format!("Anime {id}"), episodes: 12 + id % 13 }, headers))
    }
}

/// The client: the cache first, the API only on a miss.
struct Client {
    cache: Cache,
    api: Api,
}

/// What a lookup gives back: the value, its headers, and when it was fetched.
struct Lookup {
    anime: Anime,
    headers: cachestore::Headers,
    fetched_at: SystemTime,
}

impl Client {
    async fn anime(&self, id: u32, category: &str) -> Result<Lookup, Box<dyn std::error::Error>> {
        let path = format!("/anime/{id}");
        let key = signature(&("GET", &path))?;
        let policy = self.cache.policy(category);
        let got = self
            .cache
            .get_or_fetch_borrowed("anilist", &key, &policy, |_| async {
                let (anime, headers) = self.api.get(&path).await?;
                let mut row = Fetched::value(anime);
                for (name, value) in headers {
                    row = row.header(name, value);
                }
                Ok::<_, String>(row)
            })
            .await?;
        Ok(Lookup { anime: got.value, headers: got.headers, fetched_at: got.stored_at })
    }
}

fn open(path: PathBuf, clock: impl Clock) -> cachestore::Result<(Arc<dyn CacheStore>, Client)> {
    let store: Arc<dyn CacheStore> = Arc::new(SqliteStore::builder(path).clock(clock).open()?);
    let cache = Cache::builder(Arc::clone(&store))
        .ttl("metadata", Duration::from_secs(7 * 86_400))
        .ttl("airing", Duration::from_secs(3600))
        .build();
    Ok((store, Client { cache, api: Api::default() }))
}

/// The self-test: writes, reads back and removes one row in the store.
async fn self_test(store: &dyn CacheStore) -> Result<(), Box<dyn std::error::Error>> {
    let probe = cachestore::Bytes::from_static(b"self-test");
    store.set("selftest", "probe", probe.clone(), cachestore::SetOptions::new()).await?;
    let back = store.get("selftest", "probe").await?.ok_or("the probe row did not read back")?;
    assert_eq!(back.payload, probe);
    assert!(store.delete("selftest", "probe").await?);
    println!("self-test: write, read back and delete ok; capabilities {:?}", store.capabilities());
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Where the cache lives: the platform's cache directory, shown; this
    // run keeps to a temporary one so that it leaves nothing behind.
    let default = cachestore::default_cache_path("animedex")?;
    println!("the platform's cache path: {}", default.display());
    let dir = std::env::temp_dir().join(format!("cachestore-anime-{}", std::process::id()));
    let clock = ManualClock::new();
    let (store, client) = open(dir.join("cache.sqlite"), clock.clone())?;
    self_test(store.as_ref()).await?;

    let first = client.anime(21, "metadata").await?;
    let again = client.anime(21, "metadata").await?;
    let airing = client.anime(154587, "airing").await?;
    println!(
        "{} ({} episodes), etag {}, fetched at {:?}; API calls so far: {}",
        again.anime.title,
        again.anime.episodes,
        again.headers["etag"],
        again.fetched_at,
        client.api.calls.load(Ordering::SeqCst)
    );
    // The second lookup was the cache's: no HTTP call, the same headers
    // and fetch time as the first.
    assert_eq!(client.api.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        (again.anime.clone(), again.headers.clone(), again.fetched_at),
        (first.anime, first.headers, first.fetched_at)
    );
    assert_eq!(again.headers["etag"], "\"21-1\"");
    assert!(again.headers.contains_key("x-ratelimit-remaining"));

    // Two hours on: the airing show (1 h) is fetched again, metadata is not.
    clock.advance(Duration::from_secs(2 * 3600));
    client.anime(21, "metadata").await?;
    let refreshed = client.anime(154587, "airing").await?;
    assert_eq!(client.api.calls.load(Ordering::SeqCst), 3, "only the airing show went to the API");
    assert!(refreshed.fetched_at > airing.fetched_at);

    // Eight days on, both are dead: a purge removes them.
    clock.advance(Duration::from_secs(8 * 86_400));
    let purged = store.purge_expired().await?;
    println!("purged {purged} dead rows; counters {:?}", client.cache.counters("anilist"));
    assert_eq!(purged, 2);
    drop((store, client));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
