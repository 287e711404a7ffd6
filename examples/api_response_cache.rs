//! An API-response cache: rows keyed by (backend, signature of the request),
//! stored with the response headers, TTLs by category, and a purge of
//! expired rows.
//!
//! Run: `cargo run --example api_response_cache --features sqlite`

use std::sync::Arc;
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchPolicy, ManualClock, SqliteStore, signature};
use serde::{Deserialize, Serialize};

/// A request to a metadata API: what the key is derived from.
#[derive(Serialize)]
struct Request<'a> {
    endpoint: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    status: u16,
    body: String,
}

/// Response headers as the API sends them.
type ResponseHeaders = Vec<(&'static str, String)>;

/// The simulated API: every call answers with what it was asked.
fn call_api(req: &Request<'_>) -> Result<(Response, ResponseHeaders), String> {
    let body = format!("{} {:?}", req.endpoint, req.params);
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("etag", format!("\"{}\"", body.len())),
        // A secret the API echoes back: the cache's redaction strips it.
        ("set-cookie", "session=secret".to_owned()),
    ];
    Ok((Response { status: 200, body }, headers))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-api-{}", std::process::id()));
    let clock = ManualClock::new();
    let store = SqliteStore::builder(dir.join("api.sqlite")).clock(clock.clone()).open()?;
    let store: Arc<dyn CacheStore> = Arc::new(store);
    let cache = Cache::new(Arc::clone(&store));

    let requests = [
        ("metadata", Request { endpoint: "/movie/603", params: vec![("lang", "en")] }),
        ("list", Request { endpoint: "/popular", params: vec![("page", "1")] }),
        ("trending", Request { endpoint: "/trending", params: vec![("window", "day")] }),
    ];
    for round in 1..=2 {
        for (category, req) in &requests {
            let key = signature(req)?;
            let (response, headers) = call_api(req)?;
            let mut policy: FetchPolicy = cache.policy(category);
            for (name, value) in headers {
                policy = policy.header(name, value);
            }
            let got =
                cache
                    .get_or_fetch("tmdb", &key, &policy, move || async move {
                        Ok::<_, String>(response)
                    })
                    .await?;
            println!(
                "round {round}: {category:<9} {} -> {} ({} headers kept)",
                req.endpoint,
                got.value.status,
                got.headers.len()
            );
        }
    }
    let counters = cache.counters("tmdb");
    println!("hits {}, misses {}", counters.hits, counters.misses);
    assert_eq!((counters.hits, counters.misses), (3, 3));

    // Two hours on, the trending response (1 h) is dead; purge removes it.
    clock.advance(Duration::from_secs(2 * 3600));
    let purged = store.purge_expired().await?;
    let stats = store.stats().await?;
    println!("purged {purged} expired row(s); {} fresh rows remain", stats.fresh);
    assert_eq!((purged, stats.fresh), (1, 2));
    let any = store.scan(Some("tmdb"), None, 1).await?.items.remove(0);
    assert!(!any.entry.headers.contains_key("set-cookie"), "a secret reached the cache");
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
