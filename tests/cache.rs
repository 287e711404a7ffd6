//! The typed `Cache` handle: every feature with a test that fails without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachestore::{
    BlockingCache, Cache, CacheStore, Clock, FetchError, FetchPolicy, ManualClock, MemoryStore,
    Redaction, SetOptions,
};
use serde::{Deserialize, Serialize};

fn memory(clock: &ManualClock) -> Arc<dyn CacheStore> {
    Arc::new(MemoryStore::with_clock(clock.clone()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Movie {
    id: u32,
    title: String,
}

fn movie() -> Movie {
    Movie { id: 603, title: "The Matrix".into() }
}

/// 1,000 concurrent callers on one cold key run the fetcher once; every one
/// gets the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_runs_the_fetcher_once_for_a_thousand_callers() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = FetchPolicy::new(Duration::from_secs(60));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (cache, calls, policy) = (cache.clone(), Arc::clone(&calls), policy.clone());
            tokio::spawn(async move {
                cache
                    .get_or_fetch("movies", "603", &policy, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Slow upstream: every caller arrives while it runs.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, String>(movie())
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        let got = t.await.expect("task").expect("value");
        assert_eq!(got.value, movie());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the fetcher ran more than once");
    let c = cache.counters("movies");
    assert_eq!(c.misses, 1);
    assert_eq!(c.hits, 999);
}

/// When the fetch fails and a stale value is there, it is returned, marked
/// stale, and counted.
#[tokio::test]
async fn stale_if_error_serves_the_stale_value() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(Duration::from_secs(60)).stale_for(Duration::from_secs(3600));
    let first = cache.get_or_fetch("m", "k", &policy, || async { Ok::<_, String>(movie()) }).await;
    assert!(first.expect("first fetch").fresh);
    clock.advance(Duration::from_secs(120));
    let got = cache
        .get_or_fetch("m", "k", &policy, || async {
            Err::<Movie, _>("503 upstream down".to_owned())
        })
        .await
        .expect("the stale value, not the error");
    assert_eq!(got.value, movie());
    assert!(!got.fresh, "a stale value was marked fresh");
    assert_eq!(got.age, Duration::from_secs(120));
    let c = cache.counters("m");
    assert_eq!((c.fetch_errors, c.stale_served), (1, 1));
    // Past the stale window the error comes through.
    clock.advance(Duration::from_secs(3600));
    let err = cache
        .get_or_fetch("m", "k", &policy, || async { Err::<Movie, _>("503".to_owned()) })
        .await
        .expect_err("no stale value left");
    assert!(matches!(err, FetchError::Fetch(ref e) if e == "503"), "{err}");
}

/// Stale-if-error serves what the store holds when the fetch fails, not
/// what it held when the fetch began: a row that died (the clock passed its
/// stale window) or was deleted while the fetcher ran is not served.
#[tokio::test]
async fn stale_if_error_never_serves_a_row_that_died_or_went_during_the_fetch() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    let policy = FetchPolicy::new(Duration::from_secs(60)).stale_for(Duration::from_secs(600));
    for during in ["dies", "is deleted"] {
        let key = format!("k-{during}");
        let first =
            cache.get_or_fetch("m", &key, &policy, || async { Ok::<_, String>(movie()) }).await;
        assert!(first.expect("first fetch").fresh);
        clock.advance(Duration::from_secs(120)); // stale now
        let (clock, store, key2) = (clock.clone(), Arc::clone(&store), key.clone());
        let result = cache
            .get_or_fetch("m", &key, &policy, move || async move {
                if during == "dies" {
                    clock.advance(Duration::from_secs(3600)); // past stale_until
                } else {
                    store.delete("m", &key2).await.expect("delete");
                }
                Err::<Movie, _>("503 upstream down".to_owned())
            })
            .await;
        match result {
            Err(FetchError::Fetch(e)) => assert_eq!(e, "503 upstream down"),
            Ok(c) => panic!("the row {during} during the fetch, and was served: {:?}", c.value),
            Err(e) => panic!("the row {during} during the fetch: {e}"),
        }
    }
}

/// A cached failure is never read as a value, even when its text decodes as
/// the value's type (an error message "42" and a `u32`).
#[tokio::test]
async fn a_cached_failure_whose_text_decodes_is_still_not_a_value() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(Duration::from_secs(3600)).negative_ttl(Duration::from_secs(30));
    let err = cache
        .get_or_fetch("n", "k", &policy, || async { Err::<u32, _>("42".to_owned()) })
        .await
        .expect_err("fails");
    assert!(matches!(err, FetchError::Fetch(_)), "{err}");
    assert_eq!(cache.get::<u32>("n", "k").await.expect("get"), None, "the failure read as 42");
    assert!(cache.get_stale::<u32>("n", "k").await.expect("get_stale").is_none(), "read as 42");
    let err = cache
        .get_or_fetch("n", "k", &policy, || async { Ok::<u32, String>(7) })
        .await
        .expect_err("still cached");
    assert!(matches!(err, FetchError::Cached { ref message, .. } if message == "42"), "{err}");
}

/// A failure is cached for its own TTL: calls within it fail at once without
/// calling the fetcher; after it, the fetcher runs again.
#[tokio::test]
async fn negative_caching_remembers_failures_for_their_ttl() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = FetchPolicy::new(Duration::from_secs(3600)).negative_ttl(Duration::from_secs(30));
    let failing = |calls: Arc<AtomicUsize>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<Movie, _>("404 not found".to_owned())
        }
    };
    let err = cache
        .get_or_fetch("m", "k", &policy, failing(Arc::clone(&calls)))
        .await
        .expect_err("fails");
    assert!(matches!(err, FetchError::Fetch(_)));
    for _ in 0..5 {
        let err = cache
            .get_or_fetch("m", "k", &policy, failing(Arc::clone(&calls)))
            .await
            .expect_err("cached");
        assert!(
            matches!(err, FetchError::Cached { ref message, .. } if message == "404 not found"),
            "{err}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the fetcher ran during the negative TTL");
    assert_eq!(cache.get::<Movie>("m", "k").await.expect("get"), None, "a failure read as a value");
    clock.advance(Duration::from_secs(30));
    let got = cache.get_or_fetch("m", "k", &policy, || async { Ok::<_, String>(movie()) }).await;
    assert_eq!(got.expect("retried after the negative TTL").value, movie());
}

/// With stale-while-revalidate a stale value comes back at once and a
/// background task refreshes it.
#[tokio::test]
async fn stale_while_revalidate_refreshes_in_the_background() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(Duration::from_secs(60))
        .stale_for(Duration::from_secs(3600))
        .stale_while_revalidate(true);
    cache.get_or_fetch("m", "k", &policy, || async { Ok::<_, String>(1u32) }).await.expect("first");
    clock.advance(Duration::from_secs(61));
    let got = cache
        .get_or_fetch("m", "k", &policy, || async { Ok::<_, String>(2u32) })
        .await
        .expect("stale");
    assert_eq!((got.value, got.fresh), (1, false), "not served stale at once");
    for _ in 0..100 {
        if cache.get::<u32>("m", "k").await.expect("get") == Some(2) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the background refresh never stored the new value");
}

/// A value that fails to decode is a miss, counted; never a panic.
#[tokio::test]
async fn undecodable_values_are_counted_misses() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    store.set("m", "k", "{not json".into(), SetOptions::new()).await.expect("raw set");
    let cache = Cache::new(store);
    assert_eq!(cache.get::<Movie>("m", "k").await.expect("no error"), None);
    let got = cache
        .get_or_fetch("m", "k", &cache.policy("metadata"), || async { Ok::<_, String>(movie()) })
        .await;
    assert_eq!(got.expect("refetched").value, movie());
    assert_eq!(cache.counters("m").decode_errors, 2);
}

#[tokio::test]
async fn secrets_are_redacted_before_storage() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    let options = SetOptions::new()
        .header("Authorization", "Bearer secret")
        .header("set-cookie", "session=1")
        .header("X-API-KEY", "k")
        .header("ETag", "\"v1\"");
    cache.set("m", "k", &movie(), options.clone()).await.expect("set");
    let headers = store.get("m", "k").await.expect("get").expect("row").headers;
    assert!(headers.contains_key("ETag"));
    for secret in ["Authorization", "set-cookie", "X-API-KEY"] {
        assert!(!headers.contains_key(secret), "{secret} reached the store");
    }
    let keep =
        Cache::builder(Arc::clone(&store)).redaction(Redaction::none().strip("etag")).build();
    keep.set("m", "k2", &movie(), options).await.expect("set");
    let headers = store.get("m", "k2").await.expect("get").expect("row").headers;
    assert!(headers.contains_key("Authorization") && !headers.contains_key("ETag"));
}

#[tokio::test]
async fn categories_give_ttls_and_unknown_ones_get_metadata() {
    let clock = ManualClock::new();
    let cache =
        Cache::builder(memory(&clock)).ttl("search", Duration::from_secs(24 * 3600)).build();
    let h = |n: u64| Duration::from_secs(n * 3600);
    assert_eq!(cache.category_ttl("metadata"), h(72));
    assert_eq!(cache.category_ttl("list"), h(24));
    assert_eq!(cache.category_ttl("schedule"), h(1));
    assert_eq!(cache.category_ttl("trending"), h(1));
    assert_eq!(cache.category_ttl("offline_dump"), h(30 * 24));
    assert_eq!(cache.category_ttl("search"), h(24));
    assert_eq!(cache.category_ttl("no-such-category"), h(72));
    let policy = cache.policy("trending");
    cache.get_or_fetch("t", "k", &policy, || async { Ok::<_, String>(1u8) }).await.expect("fetch");
    clock.advance(h(1));
    assert_eq!(cache.get::<u8>("t", "k").await.expect("get"), None, "trending outlived 1 h");
}

#[tokio::test]
async fn the_purger_purges_and_stops_on_shutdown() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    for i in 0..10 {
        store
            .set(
                "m",
                &format!("k{i}"),
                "v".into(),
                SetOptions::for_duration(Duration::from_secs(1)),
            )
            .await
            .expect("set");
    }
    clock.advance(Duration::from_secs(2));
    let purger = cache.spawn_purger(Duration::from_millis(10)).expect("purger");
    for _ in 0..200 {
        if purger.purged() == 10 && purger.runs() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(purger.runs() >= 3, "passes not counted: {}", purger.runs());
    assert_eq!(purger.failures(), 0);
    assert_eq!(purger.shutdown().await, 10);
    assert_eq!(store.purge_expired().await.expect("purge"), 0);
    // Dropping a purger stops it: rows that die afterwards stay.
    drop(cache.spawn_purger(Duration::from_millis(10)).expect("purger"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .set("m", "late", "v".into(), SetOptions::for_duration(Duration::from_secs(1)))
        .await
        .expect("set");
    clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.purge_expired().await.expect("purge"), 1, "a dropped purger ran on");
    assert!(format!("{cache:?}").starts_with("Cache"), "{cache:?}");
    let zero = cache.spawn_purger(Duration::ZERO);
    assert!(zero.is_err());
}

#[test]
fn the_purger_needs_a_runtime_and_says_so() {
    let cache = Cache::new(memory(&ManualClock::new()));
    let err = cache.spawn_purger(Duration::from_secs(1)).expect_err("no runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[test]
fn the_blocking_cache_needs_no_runtime_and_refuses_inside_one() {
    let clock = ManualClock::new();
    let cache = BlockingCache::new(Cache::new(memory(&clock))).expect("blocking cache");
    let policy = FetchPolicy::new(Duration::from_secs(60)).stale_for(Duration::from_secs(60));
    let v = cache.get_or_fetch("m", "k", &policy, || Ok::<_, String>(movie())).expect("fetched");
    assert!(v.fresh);
    clock.advance(Duration::from_secs(90));
    let stale = cache
        .get_or_fetch("m", "k", &policy, || Err::<Movie, _>("down".to_owned()))
        .expect("stale");
    assert!(!stale.fresh);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let err =
        runtime.block_on(async { cache.get::<Movie>("m", "k") }).expect_err("inside a runtime");
    assert!(err.to_string().contains("async runtime"), "{err}");
}

#[tokio::test]
async fn times_come_from_the_store_clock() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    cache
        .set("m", "k", &1u8, SetOptions::for_duration(Duration::from_secs(10)))
        .await
        .expect("set");
    clock.advance(Duration::from_secs(5));
    let c = cache.get_stale::<u8>("m", "k").await.expect("get").expect("row");
    assert_eq!(c.age, Duration::from_secs(5));
    assert_eq!(c.stored_at, clock.now() - Duration::from_secs(5));
}

/// An `Arc<dyn CacheStore>` can sit in a `#[derive(Debug)]` struct, and a
/// store failure behind a `FetchError` is its `source()`.
#[test]
fn a_dyn_store_is_debug_and_a_fetch_error_chains_its_cause() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct App {
        store: Arc<dyn CacheStore>,
    }
    let app = App { store: memory(&ManualClock::new()) };
    let shown = format!("{app:?}");
    assert!(shown.contains("dyn CacheStore") && shown.contains("capabilities"), "{shown}");
    let cause = cachestore::Error::Config { message: "bad URL".into() };
    let err: FetchError<String> = FetchError::Store(cause);
    let source = std::error::Error::source(&err).expect("the store's error");
    assert!(source.to_string().contains("bad URL"), "{source}");
    assert!(std::error::Error::source(&FetchError::Fetch("x".to_owned())).is_none());
}
