//! The fetch layer: each defect the fetch-layer issue lists has a test here
//! that failed on the code before it (`get_or_fetch` without a context, a
//! store error returned before the fetcher ran, single-flight per `Cache`,
//! negative hits counted as hits, `BlockingCache::idle` panicking, ...).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cachestore::{
    BlockingCache, Bytes, Cache, CacheStore, Capabilities, Entry, Error, FetchContext, FetchError,
    FetchPolicy, Fetched, ManualClock, MemoryStore, Page, Result, ScanCursor, SetOptions,
    SharedClock, Stats, Ttl, async_trait,
};

fn memory(clock: &ManualClock) -> Arc<dyn CacheStore> {
    Arc::new(MemoryStore::with_clock(clock.clone()))
}

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A memory store whose reads or writes fail on demand, as a store whose
/// disk or server went away does, or on which another process caches a
/// failure at a chosen read (faults injected; the cache under test is the
/// real one).
#[derive(Debug)]
struct Faulty {
    inner: MemoryStore,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    /// `get_stale` calls so far.
    stale_reads: AtomicUsize,
    /// Just before this `get_stale` call (counted from 1; 0 for never),
    /// another process has cached a failure for the key, as the fetch
    /// layer writes one.
    failure_cached_at: AtomicUsize,
}

impl Faulty {
    fn new(clock: &ManualClock) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner: MemoryStore::with_clock(clock.clone()),
            fail_reads: AtomicBool::new(false),
            fail_writes: AtomicBool::new(false),
            stale_reads: AtomicUsize::new(0),
            failure_cached_at: AtomicUsize::new(0),
        })
    }

    fn down(operation: &str) -> Error {
        Error::Unavailable { endpoint: format!("faulty ({operation})"), source: "injected".into() }
    }

    fn read(&self) -> Result<()> {
        if self.fail_reads.load(Ordering::SeqCst) { Err(Self::down("read")) } else { Ok(()) }
    }

    fn write(&self) -> Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) { Err(Self::down("write")) } else { Ok(()) }
    }
}

#[async_trait]
impl CacheStore for Faulty {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read()?;
        self.inner.get(namespace, key).await
    }
    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read()?;
        let call = self.stale_reads.fetch_add(1, Ordering::SeqCst) + 1;
        if call == self.failure_cached_at.load(Ordering::SeqCst) {
            let failure =
                SetOptions::new().ttl(Ttl::For(HOUR)).header(cachestore::NEGATIVE_HEADER, "1");
            self.inner.set(namespace, key, Bytes::from_static(b"upstream down"), failure).await?;
        }
        self.inner.get_stale(namespace, key).await
    }
    async fn set(&self, namespace: &str, key: &str, payload: Bytes, o: SetOptions) -> Result<()> {
        self.write()?;
        self.inner.set(namespace, key, payload, o).await
    }
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        self.write()?;
        self.inner.delete(namespace, key).await
    }
    async fn purge_expired(&self) -> Result<u64> {
        self.write()?;
        self.inner.purge_expired().await
    }
    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        self.write()?;
        self.inner.clear_namespace(namespace).await
    }
    async fn clear_all(&self) -> Result<u64> {
        self.write()?;
        self.inner.clear_all().await
    }
    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        self.write()?;
        self.inner.invalidate_tag(tag).await
    }
    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        self.read()?;
        self.inner.scan(namespace, after, limit).await
    }
    async fn stats(&self) -> Result<Stats> {
        self.read()?;
        self.inner.stats().await
    }
    /// What it implements: no `set_if`, no `touch` (so "not modified"
    /// renews a row by writing it again).
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().with_conditional_writes(false).with_touch(false)
    }
    fn clock(&self) -> SharedClock {
        self.inner.clock()
    }
}

/// The fetcher stores the response's own headers and TTL, sees the stored
/// row's ETag on the next fetch, and a "not modified" renews the row without
/// a new payload, counted as a revalidation (not as stale served).
#[tokio::test]
async fn a_fetcher_revalidates_with_the_stored_etag_and_not_modified_renews_the_row() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    // The stale window keeps the row past its TTL, to be revalidated.
    let policy = FetchPolicy::new(HOUR).stale_for(HOUR);
    let first = cache
        .get_or_fetch_with("api", "/movie/603", &policy, |ctx: FetchContext| async move {
            assert!(ctx.previous.is_none(), "nothing was cached yet");
            Ok::<_, String>(
                Fetched::value("The Matrix".to_owned()).header("ETag", "\"v1\"").ttl(Ttl::For(MIN)),
            )
        })
        .await
        .expect("fetched");
    assert_eq!(first.headers.get("ETag").map(String::as_str), Some("\"v1\""));
    let row = store.get("api", "/movie/603").await.expect("get").expect("stored");
    assert_eq!(row.expires_at, Some(row.stored_at + MIN), "the fetched TTL was not used");

    clock.advance(MIN * 2);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let s = Arc::clone(&seen);
    let second = cache
        .get_or_fetch_with("api", "/movie/603", &policy, move |ctx: FetchContext| async move {
            *s.lock().expect("lock") = ctx.previous_header("etag").map(str::to_owned);
            Ok::<_, String>(Fetched::<String>::not_modified().ttl(Ttl::For(HOUR)))
        })
        .await
        .expect("revalidated");
    assert_eq!(seen.lock().expect("lock").as_deref(), Some("\"v1\""), "the fetcher saw no etag");
    assert_eq!(second.value, "The Matrix");
    assert!(second.fresh);
    let row = store.get("api", "/movie/603").await.expect("get").expect("renewed, fresh again");
    assert_eq!(row.expires_at, Some(row.stored_at + HOUR));
    assert_eq!(row.payload.as_ref(), b"\"The Matrix\"");
    assert_eq!(row.headers.get("ETag").map(String::as_str), Some("\"v1\""), "headers kept");
    // The row still says which codec wrote its payload.
    let codec = row.headers.get(cachestore::CODEC_HEADER).map(String::as_str);
    assert_eq!(codec, Some("json"), "{:?}", row.headers);
    let c = cache.counters("api");
    assert_eq!((c.revalidations, c.stale_served, c.fetches, c.misses), (1, 0, 2, 2));

    // "Not modified" with nothing to renew is an error, never a made-up value.
    let none = cache
        .get_or_fetch_with("api", "/gone", &policy, |_| async {
            Ok::<_, String>(Fetched::<String>::not_modified())
        })
        .await;
    assert!(matches!(none, Err(FetchError::NothingToRevalidate)), "{none:?}");
}

/// A store that cannot read still lets the fetcher answer; one that cannot
/// write still returns what was fetched; both counted. With
/// `store_errors_fatal`, both fail the call.
#[tokio::test]
async fn a_failing_store_never_makes_the_call_worse_than_no_cache() {
    let clock = ManualClock::new();
    let store = Faulty::new(&clock);
    let cache = Cache::new(store.clone());
    let policy = FetchPolicy::new(HOUR);
    let calls = Arc::new(AtomicUsize::new(0));
    let fetch = |calls: &Arc<AtomicUsize>| {
        let calls = Arc::clone(calls);
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(7u32)
        }
    };
    store.fail_reads.store(true, Ordering::SeqCst);
    let got = cache.get_or_fetch("ns", "read", &policy, fetch(&calls)).await;
    assert_eq!(got.expect("the fetcher's value despite the read error").value, 7);
    store.fail_reads.store(false, Ordering::SeqCst);
    store.fail_writes.store(true, Ordering::SeqCst);
    let got = cache.get_or_fetch("ns", "write", &policy, fetch(&calls)).await;
    assert_eq!(got.expect("the fetched value despite the write error").value, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let c = cache.counters("ns");
    assert_eq!((c.store_errors, c.fetches, c.sets), (3, 2, 1), "{c:?}");

    let strict = Cache::builder(store.clone()).store_errors_fatal(true).build();
    let got = strict.get_or_fetch("ns", "w2", &policy, fetch(&calls)).await;
    assert!(matches!(got, Err(FetchError::Store(Error::Unavailable { .. }))), "{got:?}");
    store.fail_writes.store(false, Ordering::SeqCst);
    store.fail_reads.store(true, Ordering::SeqCst);
    let got = strict.get_or_fetch("ns", "r2", &policy, fetch(&calls)).await;
    assert!(matches!(got, Err(FetchError::Store(Error::Unavailable { .. }))), "{got:?}");
}

/// Two `Cache` handles over one store share single-flight: 2 × 500 callers
/// on one cold key run one fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_spans_every_cache_over_one_store() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let caches = [Cache::new(Arc::clone(&store)), Cache::new(Arc::clone(&store))];
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = FetchPolicy::new(HOUR);
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        let (cache, calls, policy) = (caches[i % 2].clone(), Arc::clone(&calls), policy.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fetch("across", "cold", &policy, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(1u8)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("value").value, 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "two caches over one store fetched twice");
    assert_eq!(cachestore::registered_flights("across"), 0, "a flight was left behind");
}

/// A call dropped while it fetches, and one dropped while it waits, leave
/// no flight behind and do not block the next caller.
#[tokio::test]
async fn a_cancelled_call_leaves_nothing_behind() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(HOUR);
    let slow = cache.get_or_fetch("cancelled", "k", &policy, || async {
        tokio::time::sleep(HOUR).await;
        Ok::<_, String>(0u8)
    });
    let waiting = cache.get_or_fetch("cancelled", "k", &policy, || async { Ok::<_, String>(0u8) });
    let both = async { tokio::join!(slow, waiting) };
    assert!(tokio::time::timeout(Duration::from_millis(50), both).await.is_err());
    assert_eq!(cachestore::registered_flights("cancelled"), 0, "a cancelled call left its flight");
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get_or_fetch("cancelled", "k", &policy, || async { Ok::<_, String>(3u8) }),
    )
    .await
    .expect("the next caller was blocked by a cancelled one");
    assert_eq!(got.expect("value").value, 3);
}

/// A remembered failure is a negative hit, not a hit; a miss returns the
/// same headers a hit does: stored, redacted, without cachestore's own.
#[tokio::test]
async fn counters_and_headers_say_what_happened() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(HOUR)
        .negative_ttl(MIN)
        .header("Authorization", "Bearer s3cret")
        .header("x-source", "tmdb");
    let miss = cache
        .get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(1u8) })
        .await
        .expect("fetched");
    let hit = cache
        .get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(2u8) })
        .await
        .expect("hit");
    assert_eq!(miss.headers, hit.headers, "a miss and a hit show different headers");
    assert_eq!(hit.headers.keys().collect::<Vec<_>>(), vec!["x-source"]);
    let stale = cache.get_stale::<u8>("ns", "k").await.expect("get").expect("row");
    assert_eq!(stale.headers, hit.headers);

    for _ in 0..2 {
        let failed = cache
            .get_or_fetch("ns", "bad", &policy, || async { Err::<u8, _>("503".to_owned()) })
            .await;
        assert!(failed.is_err());
    }
    let c = cache.counters("ns");
    // The second call and the get_stale are hits; the two fetches misses.
    assert_eq!((c.hits, c.misses, c.negative_hits, c.fetch_errors), (2, 2, 1, 1), "{c:?}");
    assert!(c.fetch_p50.is_some() && c.fetch_p99 >= c.fetch_p50);
}

/// A cached failure keeps its message redacted and bounded.
#[tokio::test]
async fn a_cached_failure_keeps_no_secret() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    let policy = FetchPolicy::new(HOUR).negative_ttl(MIN);
    let error = format!(
        "GET https://user:pw123@api.example/v3/x?api_key=KEY42 failed {}",
        "x".repeat(5_000)
    );
    let e = error.clone();
    let _ = cache.get_or_fetch("ns", "k", &policy, move || async move { Err::<u8, _>(e) }).await;
    let row = store.get("ns", "k").await.expect("get").expect("the failure is cached");
    let text = String::from_utf8(row.payload.to_vec()).expect("text");
    assert!(!text.contains("pw123") && !text.contains("KEY42"), "{text}");
    assert!(text.len() <= cachestore::MAX_FAILURE_TEXT + 3, "{} bytes", text.len());
    match cache.get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(0u8) }).await {
        Err(FetchError::Cached { message, .. }) => assert!(!message.contains("KEY42")),
        other => panic!("not the cached failure: {other:?}"),
    }
}

/// The write guard refuses a payload holding an API key: `set` fails with
/// `Refused` (no secret in the message), a fetched value is returned but
/// not stored.
#[tokio::test]
async fn the_write_guard_keeps_secret_payloads_out() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache =
        Cache::builder(Arc::clone(&store)).write_guard(cachestore::refuse_secret_fields).build();
    let leaky = serde_json::json!({"results": [{"id": 1}], "apiKey": "sk-live-9"});
    let refused = cache.set("tmdb", "search", &leaky, SetOptions::new()).await;
    match refused {
        Err(e @ Error::Refused { .. }) => {
            assert!(!e.to_string().contains("sk-live-9"), "{e}");
            assert!(e.to_string().contains("apiKey"), "{e}");
        }
        other => panic!("not refused: {other:?}"),
    }
    let l = leaky.clone();
    let got = cache
        .get_or_fetch("tmdb", "fetched", &FetchPolicy::new(HOUR), move || async move {
            Ok::<_, String>(l)
        })
        .await
        .expect("returned");
    assert_eq!(got.value, leaky);
    assert_eq!(store.get("tmdb", "search").await.expect("get"), None);
    assert_eq!(store.get("tmdb", "fetched").await.expect("get"), None);
    assert_eq!(cache.counters("tmdb").refused_writes, 2);
    cache.set("tmdb", "clean", &serde_json::json!({"id": 1}), SetOptions::new()).await.expect("ok");
}

/// Eager refresh: past the fraction of its TTL a fresh value is returned at
/// once and refreshed in the background; `shutdown` waits for it.
#[tokio::test]
async fn eager_refresh_renews_ahead_of_expiry_and_shutdown_waits_for_it() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(Duration::from_secs(100)).refresh_ahead(0.5);
    cache.get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(1u8) }).await.expect("1");
    clock.advance(Duration::from_secs(40));
    let early = cache.get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(2u8) }).await;
    assert_eq!(early.expect("hit").value, 1);
    assert_eq!(cache.background_tasks(), 0, "refreshed before the fraction");
    clock.advance(Duration::from_secs(20));
    let go = Arc::new(tokio::sync::Notify::new());
    let waiting = Arc::clone(&go);
    let due = cache
        .get_or_fetch("ns", "k", &policy, move || {
            let go = Arc::clone(&waiting);
            async move {
                go.notified().await;
                Ok::<_, String>(3u8)
            }
        })
        .await;
    assert_eq!(due.expect("hit, at once").value, 1);
    assert_eq!(cache.background_tasks(), 1, "the refresh is not counted while it runs");
    assert!(!cache.is_shut_down());
    go.notify_one();
    cache.shutdown().await;
    assert!(cache.is_shut_down());
    assert_eq!(cache.background_tasks(), 0);
    assert_eq!(cache.get::<u8>("ns", "k").await.expect("get"), Some(3), "not refreshed");
    assert_eq!(cache.counters("ns").fetches, 2);
}

/// A soft timeout returns the stale value and lets the fetch finish and
/// store in the background; a hard timeout gives up (stale if there is one,
/// else `Timeout`).
#[tokio::test]
async fn soft_and_hard_timeouts() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(MIN)
        .stale_for(HOUR)
        .soft_timeout(Duration::from_millis(20))
        .hard_timeout(Duration::from_secs(5));
    cache.get_or_fetch("ns", "k", &policy, || async { Ok::<_, String>(1u8) }).await.expect("1");
    clock.advance(MIN * 2);
    let got = cache
        .get_or_fetch("ns", "k", &policy, || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, String>(2u8)
        })
        .await
        .expect("stale after the soft timeout");
    assert_eq!((got.value, got.fresh), (1, false));
    cache.wait_background().await;
    assert_eq!(cache.get::<u8>("ns", "k").await.expect("get"), Some(2), "the fetch was dropped");

    let hard = FetchPolicy::new(MIN).hard_timeout(Duration::from_millis(20));
    let got = cache
        .get_or_fetch("ns", "cold", &hard, || async {
            tokio::time::sleep(HOUR).await;
            Ok::<_, String>(0u8)
        })
        .await;
    assert!(matches!(got, Err(FetchError::Timeout(_))), "{got:?}");
}

/// A fetcher that borrows its client compiles and runs (foreground path).
#[tokio::test]
async fn a_borrowing_fetcher_works() {
    struct Client {
        calls: AtomicUsize,
    }
    impl Client {
        async fn get(&self, path: &str) -> std::result::Result<String, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(format!("body of {path}"))
        }
    }
    let client = Client { calls: AtomicUsize::new(0) };
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let policy = FetchPolicy::new(HOUR).stale_while_revalidate(true);
    for _ in 0..3 {
        let got = cache
            .get_or_fetch_borrowed("ns", "/a", &policy, |ctx| {
                let client = &client;
                async move { client.get(&ctx.key).await.map(Fetched::value) }
            })
            .await
            .expect("value");
        assert_eq!(got.value, "body of /a");
    }
    assert_eq!(client.calls.load(Ordering::SeqCst), 1);
}

/// `BlockingCache`: `idle` does not panic; stale-while-revalidate refreshes
/// on the cache's own thread; the fetcher runs outside any runtime (a sync
/// client that starts one works); the maintenance calls are there.
#[test]
fn the_blocking_cache_is_complete_and_never_panics() {
    let clock = ManualClock::new();
    let cache = BlockingCache::new(Cache::new(memory(&clock))).expect("cache");
    cache.idle(Duration::from_millis(1)).expect("idle");
    let policy = FetchPolicy::new(MIN).stale_for(HOUR).stale_while_revalidate(true);
    let sync_client = |v: u8| {
        move |_ctx: FetchContext| {
            assert!(tokio::runtime::Handle::try_current().is_err(), "the fetcher ran in a runtime");
            // What a blocking HTTP client does inside.
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
            rt.block_on(async { Ok::<_, String>(Fetched::value(v)) })
        }
    };
    assert_eq!(cache.get_or_fetch_with("ns", "k", &policy, sync_client(1)).expect("1").value, 1);
    clock.advance(MIN * 2);
    let stale = cache.get_or_fetch_with("ns", "k", &policy, sync_client(2)).expect("stale");
    assert_eq!((stale.value, stale.fresh), (1, false));
    cache.wait_background().expect("wait");
    assert_eq!(cache.get::<u8>("ns", "k").expect("get"), Some(2), "never refreshed");

    cache.set("ns", "other", &5u8, SetOptions::for_duration(MIN)).expect("set");
    assert_eq!(cache.stats().expect("stats").fresh, 2);
    assert_eq!(cache.scan(Some("ns"), None, 10).expect("scan").items.len(), 2);
    assert!(cache.delete("ns", "other").expect("delete"));
    assert_eq!(cache.clear_namespace("ns").expect("clear"), 1);
    assert_eq!(cache.clear_all().expect("clear all"), 0);
    cache.shutdown().expect("shutdown");
}

/// On a store shared between processes the fetch takes a lease row; once
/// the value is stored the lease row is gone, dead or alive: `stats` shows
/// nothing in `LEASE_NAMESPACE` (a release that wrote a dead row in its
/// place left one per fetch until a purge).
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_fetch_lease_leaves_no_row_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn CacheStore> =
        Arc::new(cachestore::SqliteStore::open(dir.path().join("c.sqlite")).expect("open"));
    let cache = Cache::new(Arc::clone(&store));
    for i in 0..5 {
        let key = format!("k{i}");
        cache
            .get_or_fetch("ns", &key, &FetchPolicy::new(HOUR), || async { Ok::<_, String>(1u8) })
            .await
            .expect("fetched");
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.namespaces["ns"].fresh, 5);
    assert!(
        !stats.namespaces.contains_key(cachestore::LEASE_NAMESPACE),
        "lease rows left behind: {:?}",
        stats.namespaces.get(cachestore::LEASE_NAMESPACE)
    );
    assert_eq!(stats.dead, 0);
}

/// Tags from the policy and from the fetcher are stored with values and
/// with remembered failures; a "not modified" keeps them, whether the store
/// renews the row in place (touch) or writes it again; one
/// `invalidate_tag` then drops the group across namespaces.
#[tokio::test]
async fn tags_follow_values_failures_and_revalidations() {
    let clock = ManualClock::new();
    let memory: Arc<dyn CacheStore> = memory(&clock);
    let no_touch: Arc<dyn CacheStore> = Faulty::new(&clock);
    for store in [memory, no_touch] {
        let cache = Cache::new(Arc::clone(&store));
        let policy = FetchPolicy::new(MIN).stale_for(HOUR).negative_ttl(MIN).tag("album:x");
        for ns in ["musicbrainz", "discogs"] {
            let got = cache
                .get_or_fetch_with(ns, "angel", &policy, |_ctx: FetchContext| async {
                    Ok::<_, String>(Fetched::value("6:18".to_owned()).tag("artist:y"))
                })
                .await
                .expect("fetch");
            assert_eq!(got.value, "6:18");
        }
        let failed = cache
            .get_or_fetch("lastfm", "angel", &policy, || async { Err::<String, _>("down") })
            .await;
        assert!(matches!(failed, Err(FetchError::Fetch(_))));
        let row = store.get_stale("discogs", "angel").await.expect("read").expect("row");
        let want: cachestore::Tags = ["album:x".to_owned(), "artist:y".to_owned()].into();
        assert_eq!(row.tags, want, "{:?}", store.capabilities());
        let negative = store.get_stale("lastfm", "angel").await.expect("read").expect("row");
        assert!(negative.tags.contains("album:x"), "a remembered failure lost its tag");
        // Past the TTL: a 304 renews the row; its tags stay.
        clock.advance(2 * MIN);
        cache
            .get_or_fetch_with("musicbrainz", "angel", &policy, |_ctx: FetchContext| async {
                Ok::<Fetched<String>, String>(Fetched::not_modified())
            })
            .await
            .expect("revalidate");
        let row = store.get("musicbrainz", "angel").await.expect("read").expect("renewed row");
        assert_eq!(row.tags, want, "a revalidation dropped the tags");
        // The failure expired with the clock move; the two values go.
        assert_eq!(cache.invalidate_tag("album:x").await.expect("invalidate"), 2);
        assert!(store.get_stale("discogs", "angel").await.expect("read").is_none());
        let sync = cache.clone();
        let (left, empty) = std::thread::spawn(move || {
            let blocking = BlockingCache::new(sync).expect("blocking");
            (blocking.invalidate_tag("artist:y"), blocking.invalidate_tag(""))
        })
        .join()
        .expect("the sync caller");
        assert_eq!(left.expect("invalidate"), 0);
        assert!(matches!(empty, Err(Error::InvalidTags { .. })), "{empty:?}");
    }
}

/// A hard timeout shorter than the soft one gives up at the hard one, with
/// or without a stale value to fall back on; a timeout says how long the
/// caller waited in all, also after a soft timeout. (Both failed before:
/// a stale value made the caller wait out the soft timeout, and a fetch
/// left running after one reported only the rest of the hard timeout.)
#[tokio::test]
async fn a_hard_timeout_is_kept_whatever_the_soft_one() {
    let clock = ManualClock::new();
    let cache = Cache::new(memory(&clock));
    let hard = Duration::from_millis(30);
    let policy = FetchPolicy::new(MIN).soft_timeout(Duration::from_secs(30)).hard_timeout(hard);
    let got = cache
        .get_or_fetch("ns", "cold", &policy, || async {
            tokio::time::sleep(HOUR).await;
            Ok::<_, String>(0u8)
        })
        .await;
    assert!(matches!(got, Err(FetchError::Timeout(after)) if after == hard), "{got:?}");
    let got = cache
        .get_or_fetch_borrowed("ns", "cold too", &policy, |_ctx| async {
            tokio::time::sleep(HOUR).await;
            Ok::<_, String>(Fetched::value(0u8))
        })
        .await;
    assert!(matches!(got, Err(FetchError::Timeout(after)) if after == hard), "{got:?}");
    // With a stale value there, the hard timeout still gives up first (the
    // soft one is an hour) and falls back on it.
    let policy = FetchPolicy::new(MIN).stale_for(HOUR).soft_timeout(HOUR).hard_timeout(hard);
    cache.get_or_fetch("ns", "warm", &policy, || async { Ok::<_, String>(1u8) }).await.expect("1");
    clock.advance(2 * MIN);
    let slow = || async {
        tokio::time::sleep(HOUR).await;
        Ok::<_, String>(2u8)
    };
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        cache.get_or_fetch("ns", "warm", &policy, slow),
    )
    .await
    .expect("waited for the soft timeout, past the hard one")
    .expect("stale");
    assert_eq!((got.value, got.fresh), (1, false));
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        cache.get_or_fetch_borrowed("ns", "warm", &policy, |_ctx| async {
            tokio::time::sleep(HOUR).await;
            Ok::<_, String>(Fetched::value(2u8))
        }),
    )
    .await
    .expect("waited for the soft timeout, past the hard one")
    .expect("stale");
    assert_eq!((got.value, got.fresh), (1, false));
    assert_eq!(cache.counters("ns").fetch_errors, 4, "{:?}", cache.counters("ns"));
    // A fetch left running after a soft timeout that then hits the hard
    // one says it waited the whole hard timeout (here, in the failure it
    // remembers: the row went while it ran).
    let policy = FetchPolicy::new(MIN)
        .stale_for(HOUR)
        .negative_ttl(HOUR)
        .soft_timeout(Duration::from_millis(10))
        .hard_timeout(hard);
    cache.get_or_fetch("ns", "gone", &policy, || async { Ok::<_, String>(1u8) }).await.expect("1");
    clock.advance(2 * MIN);
    let store = Arc::clone(cache.store());
    let got = cache
        .get_or_fetch("ns", "gone", &policy, move || async move {
            store.delete("ns", "gone").await.map_err(|e| e.to_string())?;
            tokio::time::sleep(HOUR).await;
            Ok::<_, String>(2u8)
        })
        .await
        .expect("stale after the soft timeout");
    assert_eq!(got.value, 1);
    cache.wait_background().await;
    let got = cache.get_or_fetch("ns", "gone", &policy, || async { Ok::<_, String>(3u8) }).await;
    let Err(FetchError::Cached { message, .. }) = got else { panic!("no failure kept: {got:?}") };
    assert_eq!(message, format!("fetch timed out after {hard:?}"));
}

/// Single-flight is per store: two caches over two stores fetch the same
/// key at once, neither waiting for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_over_different_stores_do_not_share_a_flight() {
    let clock = ManualClock::new();
    let (a, b) = (Cache::new(memory(&clock)), Cache::new(memory(&clock)));
    let policy = FetchPolicy::new(HOUR);
    let b_fetched = Arc::new(tokio::sync::Notify::new());
    let (seen, p) = (Arc::clone(&b_fetched), policy.clone());
    let first = tokio::spawn(async move {
        a.get_or_fetch("ns", "k", &p, move || async move {
            // Waits for the other store's fetch, which must not wait for it.
            tokio::time::timeout(Duration::from_secs(10), seen.notified())
                .await
                .map(|()| 1u8)
                .map_err(|_| "the other store's fetch waited for this one".to_owned())
        })
        .await
    });
    // Let the first fetch start before the second.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let notify = Arc::clone(&b_fetched);
    let second = b
        .get_or_fetch("ns", "k", &policy, move || async move {
            notify.notify_one();
            Ok::<_, String>(2u8)
        })
        .await
        .expect("second store");
    assert_eq!(second.value, 2);
    assert_eq!(first.await.expect("task").expect("first store").value, 1);
}

/// Stores 7 with an ETag through `cache`, lets it go stale, and calls
/// again under stale-while-revalidate with a fetcher that answers `answer`:
/// the stale value returned, and the previous row the background refresh
/// was shown (after it finished).
async fn refresh_of_a_stale_row(
    cache: &Cache,
    clock: &ManualClock,
    answer: Fetched<u8>,
) -> (cachestore::Cached<u8>, Option<cachestore::Previous>) {
    let policy = FetchPolicy::new(MIN).stale_for(HOUR).stale_while_revalidate(true);
    cache
        .get_or_fetch_with("ns", "k", &policy, |_ctx| async {
            Ok::<_, String>(Fetched::value(7u8).header("ETag", "\"a\""))
        })
        .await
        .expect("fetched");
    clock.advance(2 * MIN);
    let shown = Arc::new(std::sync::Mutex::new(None));
    let s = Arc::clone(&shown);
    let got = cache
        .get_or_fetch_with("ns", "k", &policy, move |ctx| async move {
            *s.lock().expect("lock") = Some(ctx.previous);
            Ok::<_, String>(answer)
        })
        .await
        .expect("stale, refreshed behind");
    cache.wait_background().await;
    let previous = shown.lock().expect("lock").take().expect("the refresh ran");
    (got, previous)
}

/// A background refresh (stale-while-revalidate) shows the fetcher the row
/// it refreshes, so a "not modified" renews it.
#[tokio::test]
async fn a_background_refresh_revalidates_the_row_it_refreshes() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    let cache = Cache::new(Arc::clone(&store));
    let (got, previous) = refresh_of_a_stale_row(&cache, &clock, Fetched::not_modified()).await;
    assert_eq!((got.value, got.fresh), (7, false));
    let etag = previous.as_ref().and_then(|p| p.headers.get("ETag")).map(String::as_str);
    assert_eq!(etag, Some("\"a\""), "no previous row shown: {previous:?}");
    let row = store.get("ns", "k").await.expect("get");
    assert!(row.is_some(), "the refresh did not renew the row");
    assert_eq!(cache.counters("ns").revalidations, 1);
}

/// A purge pass that fails is counted, and the purger goes on.
#[tokio::test]
async fn the_purger_counts_failed_passes_and_goes_on() {
    let clock = ManualClock::new();
    let store = Faulty::new(&clock);
    store.fail_writes.store(true, Ordering::SeqCst);
    let cache = Cache::new(store.clone());
    let purger = cache.spawn_purger(Duration::from_millis(5)).expect("purger");
    for _ in 0..400 {
        if purger.failures() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(purger.failures() >= 2, "failed passes not counted: {}", purger.failures());
    assert!(purger.runs() >= purger.failures());
    assert_eq!(purger.purged(), 0);
    purger.shutdown().await;
}

/// A fetch over a store of one process (memory) takes no fetch lease: the
/// store holds nothing while the fetcher runs.
#[tokio::test]
async fn a_store_of_one_process_takes_no_fetch_lease() {
    let clock = ManualClock::new();
    let store = memory(&clock);
    assert!(!store.capabilities().multi_process && store.capabilities().conditional_writes);
    let cache = Cache::new(Arc::clone(&store));
    let seen = Arc::clone(&store);
    let got = cache
        .get_or_fetch("ns", "k", &FetchPolicy::new(HOUR), move || async move {
            let page = seen.scan(None, None, 10).await.map_err(|e| e.to_string())?;
            let rows: Vec<_> =
                page.items.iter().map(|i| (i.namespace.clone(), i.key.clone())).collect();
            if rows.is_empty() { Ok(1u8) } else { Err(format!("rows during the fetch: {rows:?}")) }
        })
        .await;
    assert_eq!(got.expect("no lease row").value, 1);
}

/// A background refresh that finds a remembered failure where the value
/// was (cached elsewhere since the caller looked) shows the fetcher no
/// previous row: a failure's text is never revalidated as a value.
#[tokio::test]
async fn a_refresh_never_shows_a_remembered_failure_as_the_previous_row() {
    let clock = ManualClock::new();
    // Reads: the fill's look and re-check (2), the stale call's look (3);
    // the refresh's look (4) finds the failure.
    let store = Faulty::new(&clock);
    store.failure_cached_at.store(4, Ordering::SeqCst);
    let cache = Cache::new(store.clone());
    let (got, previous) = refresh_of_a_stale_row(&cache, &clock, Fetched::value(8)).await;
    assert_eq!((got.value, got.fresh), (7, false));
    assert_eq!(store.stale_reads.load(Ordering::SeqCst), 4, "the reads this test counts on");
    assert_eq!(previous, None, "a failure shown as the previous row");
    assert_eq!(cache.get::<u8>("ns", "k").await.expect("get"), Some(8));
}
