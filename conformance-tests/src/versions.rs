//! The behaviours of contract v2's row versions, conditional writes and
//! touch (CONTRACT.md §7 and §8). Each runs where the store declares the
//! capability; elsewhere it checks that the operation is refused with
//! [`Error::Unsupported`] and prints a loud `SKIPPED:` line.

use std::sync::Arc;

use cachestore_core::{
    Bytes, CacheStore, Clock, Condition, Error, IdentityPart, SetItem, SetOptions, TouchOptions,
    Ttl, WriteOutcome,
};

use crate::StoreFactory;
use crate::support::{declares, expected, headers, ms, ok, open, opts, put};

async fn version_of<S: CacheStore + ?Sized>(store: &S, ns: &str, key: &str) -> u64 {
    ok("get_stale", store.get_stale(ns, key).await).map_or(0, |e| e.version)
}

/// Every write of a row (set, set_many item, set_if, touch) gives it a
/// version greater than any the store handed out before (CONTRACT.md §7).
pub async fn versions_grow_with_every_write<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let refused =
        store.set_if("ns", "k", Bytes::new(), SetOptions::new(), Condition::IfAbsent).await;
    if !declares(
        store.capabilities().conditional_writes,
        "versions_grow_with_every_write",
        "conditional_writes",
        refused,
    ) {
        return;
    }
    let mut last = 0;
    let mut check = |v: u64, what: &str| {
        assert!(v > last, "{what} gave version {v}, not above {last} handed out before");
        last = v;
    };
    put(&store, "ns", "a", b"1", SetOptions::new()).await;
    check(version_of(&store, "ns", "a").await, "set");
    put(&store, "ns", "a", b"2", SetOptions::new()).await;
    check(version_of(&store, "ns", "a").await, "an overwrite");
    put(&store, "other", "b", b"3", SetOptions::new()).await;
    check(version_of(&store, "other", "b").await, "a set in another namespace");
    let items =
        (0..3).map(|i| SetItem::new("ns", format!("m{i}"), Bytes::new(), SetOptions::new()));
    ok("set_many", store.set_many(items.collect()).await);
    let mut many = Vec::new();
    for i in 0..3 {
        many.push(version_of(&store, "ns", &format!("m{i}")).await);
    }
    many.sort_unstable();
    many.dedup();
    assert_eq!(many.len(), 3, "set_many gave two rows one version: {many:?}");
    check(many[0], "set_many");
    check(many[2], "set_many");
    let outcome = ok(
        "set_if",
        store
            .set_if(
                "ns",
                "a",
                Bytes::new(),
                SetOptions::new(),
                Condition::IfVersion(version_of(&store, "ns", "a").await),
            )
            .await,
    );
    let v = outcome.version().expect("set_if on the current version writes");
    assert_eq!(
        v,
        version_of(&store, "ns", "a").await,
        "set_if answered another version than it stored"
    );
    check(v, "set_if");
    if store.capabilities().touch {
        let v = ok("touch", store.touch("ns", "a", TouchOptions::new(Ttl::Never)).await);
        let v = v.expect("touch of a live row");
        assert_eq!(v, version_of(&store, "ns", "a").await);
        check(v, "touch");
    }
}

/// `IfAbsent` writes only where no fresh or stale row is; a dead row counts
/// as absent. A refused write changes nothing and names the live version.
pub async fn set_if_absent_writes_only_where_no_live_row<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let absent = |key: &'static str, body: &'static [u8]| {
        let store = &store;
        async move {
            ok(
                "set_if",
                store
                    .set_if(
                        "ns",
                        key,
                        Bytes::from_static(body),
                        opts(100, 100),
                        Condition::IfAbsent,
                    )
                    .await,
            )
        }
    };
    let refused =
        store.set_if("ns", "x", Bytes::new(), SetOptions::new(), Condition::IfAbsent).await;
    if !declares(
        store.capabilities().conditional_writes,
        "set_if_absent_writes_only_where_no_live_row",
        "conditional_writes",
        refused,
    ) {
        return;
    }
    let first = absent("k", b"first").await;
    let WriteOutcome::Written { version } = first else { panic!("IfAbsent on nothing: {first:?}") };
    let want = expected(b"first", &opts(100, 100), clock.now());
    let row = ok("get", store.get("ns", "k").await).expect("written");
    assert_eq!((row.payload.clone(), row.version), (want.payload, version));
    // Fresh, then stale: refused, naming the version; the row untouched.
    for step in [0, 150] {
        clock.advance(ms(step));
        let again = absent("k", b"second").await;
        assert_eq!(again, WriteOutcome::NotWritten { current: Some(version) }, "at +{step} ms");
        let row = ok("get_stale", store.get_stale("ns", "k").await).expect("still there");
        assert_eq!(&row.payload[..], b"first", "a refused IfAbsent wrote");
    }
    // Dead: absent.
    clock.advance(ms(100));
    let dead = absent("k", b"third").await;
    assert!(dead.is_written(), "a dead row did not count as absent: {dead:?}");
    assert!(dead.version() > Some(version));
    let row = ok("get", store.get("ns", "k").await).expect("written over the dead row");
    assert_eq!(&row.payload[..], b"third");
}

/// `IfVersion(v)` writes only when the live row has version `v`; on a
/// missing or dead row it is refused with `current: None`.
pub async fn set_if_version_writes_only_on_a_match<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let refused =
        store.set_if("ns", "x", Bytes::new(), SetOptions::new(), Condition::IfVersion(1)).await;
    if !declares(
        store.capabilities().conditional_writes,
        "set_if_version_writes_only_on_a_match",
        "conditional_writes",
        refused,
    ) {
        return;
    }
    let write = |body: &'static [u8], condition| {
        let store = &store;
        async move {
            ok(
                "set_if",
                store.set_if("ns", "k", Bytes::from_static(body), opts(100, 0), condition).await,
            )
        }
    };
    assert_eq!(
        write(b"x", Condition::IfVersion(1)).await,
        WriteOutcome::NotWritten { current: None }
    );
    assert_eq!(ok("get", store.get("ns", "k").await), None, "a refused IfVersion wrote");
    put(&store, "ns", "k", b"v1", opts(100, 0)).await;
    let v1 = version_of(&store, "ns", "k").await;
    let second = write(b"v2", Condition::IfVersion(v1)).await;
    let v2 =
        second.version().unwrap_or_else(|| panic!("IfVersion of the current version: {second:?}"));
    assert!(v2 > v1);
    // The old version no longer matches: refused, naming the new one.
    assert_eq!(
        write(b"v3", Condition::IfVersion(v1)).await,
        WriteOutcome::NotWritten { current: Some(v2) }
    );
    let row = ok("get", store.get("ns", "k").await).expect("row");
    assert_eq!((&row.payload[..], row.version), (&b"v2"[..], v2));
    // Dead: no live version to match.
    clock.advance(ms(100));
    assert_eq!(
        write(b"v4", Condition::IfVersion(v2)).await,
        WriteOutcome::NotWritten { current: None }
    );
}

/// A conditional write refuses what `set` refuses, before looking at the
/// condition: nothing is written.
pub async fn conditional_writes_refuse_what_set_refuses<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let refused =
        store.set_if("ns", "x", Bytes::new(), SetOptions::new(), Condition::IfAbsent).await;
    if !declares(
        store.capabilities().conditional_writes,
        "conditional_writes_refuse_what_set_refuses",
        "conditional_writes",
        refused,
    ) {
        return;
    }
    let bad = store.set_if("", "k", Bytes::new(), SetOptions::new(), Condition::IfAbsent).await;
    assert!(matches!(bad, Err(Error::InvalidKey { part: IdentityPart::Namespace, .. })), "{bad:?}");
    let huge = SetOptions::new().ttl(Ttl::For(std::time::Duration::MAX));
    let bad = store.set_if("ns", "k", Bytes::new(), huge, Condition::IfAbsent).await;
    assert!(matches!(bad, Err(Error::InvalidTtl { .. })), "{bad:?}");
    let limit = usize::try_from(store.capabilities().max_payload).unwrap_or(usize::MAX);
    if let Some(len) = limit.checked_add(1).filter(|n| *n <= 64 << 20) {
        let bad = store
            .set_if("ns", "k", Bytes::from(vec![0u8; len]), SetOptions::new(), Condition::IfAbsent)
            .await;
        assert!(matches!(bad, Err(Error::PayloadTooLarge { .. })), "{bad:?}");
    }
    assert_eq!(ok("get_stale", store.get_stale("ns", "k").await), None, "a refused write wrote");
}

/// `touch` renews a fresh or stale row in place: `stored_at` now, new
/// expiry and stale window, a new version, the payload untouched, headers
/// kept unless given. A dead or missing row is not touched (CONTRACT.md §8).
pub async fn touch_renews_a_live_row_in_place<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let refused = store.touch("ns", "x", TouchOptions::new(Ttl::Never)).await;
    if !declares(store.capabilities().touch, "touch_renews_a_live_row_in_place", "touch", refused) {
        return;
    }
    let first = opts(100, 100).header("etag", "\"v1\"");
    put(&store, "ns", "k", b"body", first).await;
    let before = version_of(&store, "ns", "k").await;
    clock.advance(ms(150)); // stale
    let renew = TouchOptions::new(Ttl::For(ms(1_000))).stale_for(ms(500));
    let v =
        ok("touch", store.touch("ns", "k", renew.clone()).await).expect("a stale row is touched");
    let row = ok("get", store.get("ns", "k").await).expect("fresh again");
    let want = expected(b"body", &opts(1_000, 500).header("etag", "\"v1\""), clock.now());
    assert_eq!(
        crate::support::unversioned(Some(row.clone())),
        Some(want),
        "touch changed more than the times"
    );
    if store.capabilities().conditional_writes {
        assert!(
            v > before && row.version == v,
            "touch gave version {v} (row {}), was {before}",
            row.version
        );
    }
    // New headers replace the old ones.
    let replaced = renew.clone().headers(headers([("etag", "\"v2\"")]));
    assert!(ok("touch", store.touch("ns", "k", replaced).await).is_some());
    let row = ok("get", store.get("ns", "k").await).expect("row");
    assert_eq!(row.headers, headers([("etag", "\"v2\"")]));
    assert_eq!(&row.payload[..], b"body");
    // Dead and missing rows: nothing touched, nothing created.
    clock.advance(ms(1_500));
    assert_eq!(
        ok("touch", store.touch("ns", "k", renew.clone()).await),
        None,
        "a dead row was touched"
    );
    assert_eq!(ok("get_stale", store.get_stale("ns", "k").await), None);
    assert_eq!(ok("touch", store.touch("ns", "nope", renew).await), None);
    assert_eq!(ok("get_stale", store.get_stale("ns", "nope").await), None, "touch created a row");
    let bad = store.touch("ns", "", TouchOptions::new(Ttl::Never)).await;
    assert!(matches!(bad, Err(Error::InvalidKey { .. })), "{bad:?}");
}

/// 8 tasks each add 500 to one counter by read, `set_if(IfVersion)`, retry:
/// the counter ends at exactly 4,000 (no increment lost, none doubled).
pub async fn concurrent_version_increments_lose_nothing<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let refused =
        store.set_if("ns", "x", Bytes::new(), SetOptions::new(), Condition::IfAbsent).await;
    if !declares(
        store.capabilities().conditional_writes,
        "concurrent_version_increments_lose_nothing",
        "conditional_writes",
        refused,
    ) {
        return;
    }
    let total = increment_concurrently(Arc::new(store), 8, 500).await;
    assert_eq!(total, 4_000, "increments were lost or doubled");
}

/// `tasks` tasks each add `each` to the counter `("counters", "n")` by
/// read-modify-write with `IfVersion`; returns the final count. Backends
/// call it from several processes in their own tests.
pub async fn increment_concurrently<S: CacheStore>(
    store: Arc<S>,
    tasks: usize,
    each: usize,
) -> u64 {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            for _ in 0..each {
                increment(store.as_ref()).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap_or_else(|e| panic!("an incrementing task failed: {e}"));
    }
    read_counter(store.as_ref()).await
}

/// Adds one to the counter `("counters", "n")`: read, write under
/// `IfVersion` (or `IfAbsent` when there is none), retry until written.
pub async fn increment<S: CacheStore + ?Sized>(store: &S) {
    for _ in 0..100_000 {
        let row = ok("get", store.get("counters", "n").await);
        let (n, condition) = match &row {
            Some(e) => (parse(&e.payload), Condition::IfVersion(e.version)),
            None => (0, Condition::IfAbsent),
        };
        let next = Bytes::from((n + 1).to_string());
        if ok("set_if", store.set_if("counters", "n", next, SetOptions::new(), condition).await)
            .is_written()
        {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("an increment was refused 100,000 times in a row");
}

/// The counter's value.
pub async fn read_counter<S: CacheStore + ?Sized>(store: &S) -> u64 {
    ok("get", store.get("counters", "n").await).map_or(0, |e| parse(&e.payload))
}

fn parse(payload: &[u8]) -> u64 {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the counter holds {payload:?}, not a number"))
}
