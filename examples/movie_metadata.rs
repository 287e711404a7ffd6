//! A TMDB client's cache: every request keyed by the SHA-256 of its
//! normalised parameters, one namespace per cache type, TTLs by endpoint
//! category (search 24 h, details 14 d, trending 1 h); hit statistics
//! (hits, misses, sets, fetch latency); a health report (entries, the
//! expired ratio counted without deleting anything, the size on disk with
//! the `-wal`); and a response that carries an API key refused by the
//! write guard, so the key never reaches the disk.
//!
//! Run: `cargo run --example movie_metadata --features sqlite`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachestore::{Cache, CacheStore, ManualClock, SqliteStore, signature};
use serde_json::{Value, json};

/// The cache type: one namespace for TMDB's API responses.
const NS: &str = "tmdb.api";

/// The simulated TMDB API: counts calls; `/account` echoes the caller's
/// API key in its body, as some endpoints do.
#[derive(Default)]
struct Tmdb {
    calls: AtomicUsize,
}

impl Tmdb {
    async fn get(&self, endpoint: &str, params: &BTreeMap<&str, String>) -> Result<Value, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(match endpoint {
            "/search/movie" => {
                json!({"results": [{"id": 603, "title": "The Matrix"}], "query": params["query"]})
            }
            "/account" => json!({"id": 7, "username": "neo", "api_key": "tmdb-live-5f1c2a9e"}),
            _ => json!({"id": params.get("id"), "title": "The Matrix", "runtime": 136}),
        })
    }
}

/// The endpoint's category, which decides its TTL.
fn category(endpoint: &str) -> &'static str {
    match endpoint {
        e if e.starts_with("/search") => "search",
        e if e.starts_with("/trending") => "trending",
        _ => "details",
    }
}

/// The request's key: SHA-256 of the endpoint and its normalised parameters
/// ("  The MATRIX " and "the matrix" are one search).
fn key(endpoint: &str, params: &BTreeMap<&str, String>) -> cachestore::Result<String> {
    let normalised: BTreeMap<&str, String> = params
        .iter()
        .map(|(k, v)| (*k, v.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()))
        .collect();
    signature(&(endpoint, normalised))
}

async fn request(
    cache: &Cache,
    tmdb: &Tmdb,
    endpoint: &str,
    params: &[(&'static str, &str)],
) -> Result<Value, Box<dyn std::error::Error>> {
    let params: BTreeMap<&str, String> =
        params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let key = key(endpoint, &params)?;
    let policy = cache.policy(category(endpoint)).header("x-endpoint", endpoint);
    let got = cache
        .get_or_fetch_borrowed(NS, &key, &policy, |_| async {
            tmdb.get(endpoint, &params).await.map(cachestore::Fetched::value)
        })
        .await?;
    Ok(got.value)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-tmdb-{}", std::process::id()));
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(dir.join("tmdb.sqlite")).clock(clock.clone()).open()?);
    let cache = Cache::builder(Arc::clone(&store))
        .ttl("search", Duration::from_secs(24 * 3600))
        .ttl("details", Duration::from_secs(14 * 86_400))
        .ttl("trending", Duration::from_secs(3600))
        .write_guard(cachestore::refuse_secret_fields)
        .build();
    let tmdb = Tmdb::default();

    for query in ["The Matrix", "  the MATRIX ", "the matrix"] {
        request(&cache, &tmdb, "/search/movie", &[("query", query), ("year", "1999")]).await?;
    }
    for id in ["603", "604", "603"] {
        request(&cache, &tmdb, "/movie", &[("id", id)]).await?;
    }
    request(&cache, &tmdb, "/trending/movie/day", &[]).await?;
    assert_eq!(tmdb.calls.load(Ordering::SeqCst), 4, "a cached request reached the API");

    // A response holding an API key is returned, never stored.
    let account = request(&cache, &tmdb, "/account", &[]).await?;
    assert_eq!(account["username"], "neo");
    request(&cache, &tmdb, "/account", &[]).await?;
    assert_eq!(tmdb.calls.load(Ordering::SeqCst), 6, "the account response was cached");

    let c = cache.counters(NS);
    println!(
        "hit statistics: {} hits, {} misses, {} sets, {} refused, fetch p50 {:?}",
        c.hits,
        c.misses,
        c.sets,
        c.refused_writes,
        c.fetch_p50.unwrap_or_default()
    );
    assert_eq!((c.hits, c.misses, c.sets, c.refused_writes), (3, 6, 4, 2));
    assert!(c.fetch_p50.is_some_and(|p| p >= Duration::from_millis(2)));

    // Two days on: trending is dead, searches are dead too (no stale
    // window), details are fresh. The report deletes nothing.
    clock.advance(Duration::from_secs(2 * 86_400));
    let stats = store.stats().await?;
    let entries = stats.fresh + stats.stale + stats.dead;
    let expired = (stats.stale + stats.dead) as f64 / entries as f64;
    let on_disk = stats.disk_bytes.ok_or("a SQLite store has files")?;
    println!(
        "health: {entries} entries, {:.0}% expired, {} KiB on disk (with the -wal)",
        100.0 * expired,
        on_disk / 1024
    );
    assert_eq!((entries, stats.fresh), (4, 2));
    assert!((expired - 0.5).abs() < 1e-9);
    let wal = std::fs::metadata(dir.join("tmdb.sqlite-wal")).map_or(0, |m| m.len());
    assert!(on_disk > wal && wal > 0, "the -wal is not counted: {on_disk} bytes, -wal {wal}");
    // Nothing was deleted by the report: a purge finds both dead rows.
    assert_eq!(store.purge_expired().await?, 2);
    // And no byte of the API key is in any file.
    for name in ["tmdb.sqlite", "tmdb.sqlite-wal"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(!bytes.windows(18).any(|w| w == b"tmdb-live-5f1c2a9e"), "the API key is in {name}");
    }
    drop((store, cache));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
