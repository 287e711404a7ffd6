//! An API-response cache as an HTTP client keeps one: the cache is consulted
//! before any request; a response is stored with its own headers and the TTL
//! its `Cache-Control` gives; once it expires, the next request revalidates
//! it with `If-None-Match` and a `304 Not Modified` renews the stored row
//! without a new body. Secret headers never reach the store.
//!
//! Run: `cargo run --example api_response_cache --features sqlite,http`

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachestore::http::{conditional_headers, fetched, not_modified};
use cachestore::{
    Cache, CacheStore, FetchContext, FetchPolicy, ManualClock, SqliteStore, signature,
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// A request to a metadata API: what the key is derived from.
#[derive(Serialize)]
struct Request<'a> {
    endpoint: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Movie {
    endpoint: String,
    revision: u32,
}

/// The upstream API, in process: it counts what it is asked, answers `304`
/// to an `If-None-Match` that names the current revision, and echoes a
/// session cookie (a secret the cache must not store).
#[derive(Default)]
struct Upstream {
    revisions: Mutex<HashMap<String, u32>>,
    requests: AtomicUsize,
    full_bodies: AtomicUsize,
    not_modified: AtomicUsize,
}

impl Upstream {
    fn call(
        &self,
        endpoint: &str,
        request: &HeaderMap,
    ) -> Result<(StatusCode, HeaderMap, Option<Movie>), String> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let revision =
            *self.revisions.lock().map_err(|e| e.to_string())?.entry(endpoint.into()).or_insert(1);
        let etag = format!("\"{endpoint}@{revision}\"");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=600, stale-if-error=86400"),
        );
        headers.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(|e| e.to_string())?);
        headers.insert(header::SET_COOKIE, HeaderValue::from_static("session=s3cret"));
        if request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            return Ok((StatusCode::NOT_MODIFIED, headers, None));
        }
        self.full_bodies.fetch_add(1, Ordering::SeqCst);
        Ok((StatusCode::OK, headers, Some(Movie { endpoint: endpoint.into(), revision })))
    }

    fn change(&self, endpoint: &str) {
        if let Ok(mut revisions) = self.revisions.lock() {
            *revisions.entry(endpoint.into()).or_insert(1) += 1;
        }
    }
}

async fn lookup(
    cache: &Cache,
    upstream: &Upstream,
    req: &Request<'_>,
) -> Result<cachestore::Cached<Movie>, Box<dyn std::error::Error>> {
    let key = signature(req)?;
    // Rows are kept a day past their TTL, to be revalidated (or served if
    // the API is down).
    let policy = FetchPolicy::new(Duration::from_secs(60)).stale_for(Duration::from_secs(86_400));
    let endpoint = req.endpoint;
    let got = cache
        .get_or_fetch_borrowed("tmdb", &key, &policy, |ctx: FetchContext| async move {
            let (status, headers, body) = upstream.call(endpoint, &conditional_headers(&ctx))?;
            match (status, body) {
                (StatusCode::NOT_MODIFIED, _) => Ok(not_modified(&headers)),
                (StatusCode::OK, Some(movie)) => Ok(fetched(&headers, movie)),
                (status, _) => Err(format!("{endpoint}: HTTP {status}")),
            }
        })
        .await?;
    Ok(got)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-api-{}", std::process::id()));
    let clock = ManualClock::new();
    let store = SqliteStore::builder(dir.join("api.sqlite")).clock(clock.clone()).open()?;
    let store: Arc<dyn CacheStore> = Arc::new(store);
    let cache = Cache::new(Arc::clone(&store));
    let upstream = Upstream::default();
    let requests = [
        Request { endpoint: "/movie/603", params: vec![("lang", "en")] },
        Request { endpoint: "/movie/604", params: vec![("lang", "en")] },
        Request { endpoint: "/popular", params: vec![("page", "1")] },
    ];

    // Cold: one request each, stored with the response's headers.
    for req in &requests {
        let got = lookup(&cache, &upstream, req).await?;
        println!(
            "cold   {:<11} rev {} etag {}",
            req.endpoint, got.value.revision, got.headers["etag"]
        );
        assert!(!got.headers.contains_key("set-cookie"), "a secret header was kept");
    }
    // Warm: the cache answers before any request.
    for req in &requests {
        let got = lookup(&cache, &upstream, req).await?;
        assert!(got.fresh);
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 3, "a warm lookup called the API");

    // Ten minutes on (the response's max-age): every row revalidates; one
    // changed upstream and comes back whole, the others are 304s.
    upstream.change("/popular");
    clock.advance(Duration::from_secs(601));
    for req in &requests {
        let got = lookup(&cache, &upstream, req).await?;
        println!("later  {:<11} rev {} (fresh: {})", req.endpoint, got.value.revision, got.fresh);
        assert!(got.fresh);
    }
    let (calls, bodies, same) = (
        upstream.requests.load(Ordering::SeqCst),
        upstream.full_bodies.load(Ordering::SeqCst),
        upstream.not_modified.load(Ordering::SeqCst),
    );
    let counters = cache.counters("tmdb");
    println!(
        "API calls {calls} ({bodies} full bodies, {same} not modified); cache hits {}, revalidations {}",
        counters.hits, counters.revalidations
    );
    assert_eq!((calls, bodies, same), (6, 4, 2), "revalidation did not use the stored ETag");
    assert_eq!((counters.hits, counters.revalidations), (3, 2));
    let popular = lookup(&cache, &upstream, &requests[2]).await?;
    assert_eq!(popular.value.revision, 2, "the changed response was not stored");

    // A day and more on, every row is dead; a purge removes them all.
    clock.advance(Duration::from_secs(2 * 86_400));
    let purged = store.purge_expired().await?;
    println!("purged {purged} dead row(s)");
    assert_eq!(purged, 3);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
