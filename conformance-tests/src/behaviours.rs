//! One public function per behaviour of the contract (CONTRACT.md).
//!
//! Each takes the [`StoreFactory`], opens its own fresh store on a
//! [`ManualClock`](cachestore_core::ManualClock), and panics with a message
//! that says what broke. [`conformance_tests!`](crate::conformance_tests)
//! turns each into a `#[test]` of the same name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use cachestore_core::{
    Bytes, CacheStore, Clock, Error, Headers, IdentityPart, MAX_KEY_LEN, MAX_NAMESPACE_LEN,
    MIN_PAYLOAD_LIMIT, NamespaceStats, SetItem, SetOptions, Stats, Ttl,
};

use crate::StoreFactory;
use crate::support::{expected, get, get_stale, headers, ms, ok, open, opts, put, scan_all, trunc};

/// The store accepts payloads of at least 16 MiB (CONTRACT.md §1).
pub async fn payload_limit_is_at_least_16_mib<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let limit = store.capabilities().max_payload;
    assert!(limit >= MIN_PAYLOAD_LIMIT, "max_payload is {limit}, under 16 MiB");
}

/// A store that is not declared persistent says so in its capabilities.
pub async fn not_persistent_as_declared<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    assert!(
        !store.capabilities().persistent,
        "the store is persistent: use `conformance_tests!(factory, persistent)` so the reopen \
         behaviours run"
    );
}

/// A store declared persistent says so in its capabilities.
pub async fn persistent_as_declared<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    assert!(store.capabilities().persistent, "declared persistent, but capabilities say it is not");
}

/// Reads of rows never written are `None`; deleting one is `false`.
pub async fn missing_rows_read_as_none<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    assert_eq!(get(&store, "ns", "nope").await, None);
    assert_eq!(get_stale(&store, "ns", "nope").await, None);
    assert!(!ok("delete", store.delete("ns", "nope").await));
    let many = ok("get_many", store.get_many(&[("ns", "a"), ("other", "b")]).await);
    assert_eq!(many, vec![None, None]);
    assert!(scan_all(&store, None, 10).await.is_empty());
    let stats = ok("stats", store.stats().await);
    assert_eq!((stats.fresh, stats.stale, stats.payload_bytes), (0, 0, 0));
}

/// `set` then `get` and `get_stale` return every field as written:
/// payload, headers, `stored_at = now`, `expires_at = now + ttl`,
/// `stale_until = expires_at + stale_for` (CONTRACT.md §1, §3).
pub async fn set_then_get_round_trips_every_field<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let options = opts(10_000, 5_000).header("content-type", "application/json");
    put(&store, "ns", "k", b"{\"v\":1}", options.clone()).await;
    let want = expected(b"{\"v\":1}", &options, clock.now());
    assert_eq!(get(&store, "ns", "k").await, Some(want.clone()), "get");
    assert_eq!(get_stale(&store, "ns", "k").await, Some(want.clone()), "get_stale");
    assert_eq!(want.stored_at, clock.now());
    assert_eq!(want.expires_at, Some(clock.now() + ms(10_000)));
    assert_eq!(want.stale_until, Some(clock.now() + ms(15_000)));
    assert!(want.is_fresh(clock.now()));
}

/// The store is usable as `Arc<dyn CacheStore>` (CONTRACT.md §3).
pub async fn store_works_as_a_trait_object<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let dynamic: Arc<dyn CacheStore> = Arc::new(store);
    let other = Arc::clone(&dynamic);
    let task = tokio::spawn(async move {
        ok("set", other.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await);
    });
    ok("join", task.await.map_err(|e| Error::backend("test", "joining a task", e)));
    let row = get(dynamic.as_ref(), "ns", "k").await.expect("the row written by another task");
    assert_eq!(&row.payload[..], b"v");
}

/// A row is fresh while `now < expires_at` and no longer at `now == expires_at`,
/// where only `get_stale` returns it, marked not fresh (CONTRACT.md §2).
pub async fn fresh_ends_exactly_at_expires_at<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"v", opts(1_000, 500)).await;
    clock.advance(ms(999));
    assert!(get(&store, "ns", "k").await.is_some(), "fresh 1 ms before expires_at");
    clock.advance(ms(1));
    assert_eq!(get(&store, "ns", "k").await, None, "fresh at now == expires_at");
    let stale = get_stale(&store, "ns", "k").await.expect("stale at now == expires_at");
    assert!(!stale.is_fresh(clock.now()), "is_fresh() at now == expires_at");
}

/// A row is stale while `now < stale_until` and dead at `now == stale_until`:
/// invisible to every read, to scan, stats and delete's answer (CONTRACT.md §2).
pub async fn stale_ends_exactly_at_stale_until<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"v", opts(1_000, 500)).await;
    clock.advance(ms(1_499));
    assert!(get_stale(&store, "ns", "k").await.is_some(), "stale 1 ms before stale_until");
    assert_eq!(scan_all(&store, None, 10).await.len(), 1, "scan of a stale row");
    clock.advance(ms(1));
    assert_eq!(get_stale(&store, "ns", "k").await, None, "get_stale at now == stale_until");
    assert_eq!(get(&store, "ns", "k").await, None, "get at now == stale_until");
    assert!(scan_all(&store, None, 10).await.is_empty(), "scan returned a dead row");
    let stats = ok("stats", store.stats().await);
    assert_eq!((stats.fresh, stats.stale), (0, 0), "stats count a dead row");
    assert!(!ok("delete", store.delete("ns", "k").await), "delete of a dead row returned true");
}

/// `Ttl::Never` rows have no `expires_at` and no `stale_until`, whatever the
/// stale window, and stay fresh for ever (CONTRACT.md §1, §2).
pub async fn ttl_never_never_expires<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let options = SetOptions::new().ttl(Ttl::Never).stale_for(ms(5_000));
    put(&store, "ns", "k", b"v", options).await;
    clock.advance(Duration::from_secs(100 * 365 * 86_400));
    let row = get(&store, "ns", "k").await.expect("a Ttl::Never row after 100 years");
    assert_eq!((row.expires_at, row.stale_until), (None, None));
    assert_eq!(ok("purge", store.purge_expired().await), 0);
}

/// `Ttl::For(0)` and an `Until` in the past store a row that is already
/// expired: stale if there is a stale window, else dead (CONTRACT.md §2).
pub async fn zero_ttl_and_past_until_store_expired_rows<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let past = clock.now() - ms(10);
    put(&store, "ns", "zero", b"v", opts(0, 0)).await;
    put(&store, "ns", "zero-stale", b"v", opts(0, 100)).await;
    put(&store, "ns", "past", b"v", SetOptions::new().ttl(Ttl::Until(past))).await;
    let past_stale = SetOptions::new().ttl(Ttl::Until(past)).stale_for(ms(100));
    put(&store, "ns", "past-stale", b"v", past_stale.clone()).await;
    put(&store, "ns", "future", b"v", SetOptions::new().ttl(Ttl::Until(clock.now() + ms(1)))).await;
    for key in ["zero", "zero-stale", "past", "past-stale"] {
        assert_eq!(get(&store, "ns", key).await, None, "get({key}) of an already expired row");
    }
    assert_eq!(get_stale(&store, "ns", "zero").await, None, "For(0) without a stale window");
    assert_eq!(get_stale(&store, "ns", "past").await, None, "past Until without a stale window");
    assert!(get_stale(&store, "ns", "zero-stale").await.is_some(), "For(0) with a stale window");
    let row = get_stale(&store, "ns", "past-stale").await.expect("past Until with a stale window");
    assert_eq!(row, expected(b"v", &past_stale, clock.now()));
    assert_eq!(row.expires_at, Some(past), "Until is kept as given");
    assert!(get(&store, "ns", "future").await.is_some(), "Until in the future is fresh");
}

/// With the default stale window of zero there is no stale phase:
/// `stale_until == expires_at`, and the row is dead at `expires_at` (CONTRACT.md §2).
pub async fn no_stale_phase_without_stale_for<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"v", SetOptions::for_duration(ms(1_000))).await;
    let row = get(&store, "ns", "k").await.expect("fresh");
    assert_eq!(row.stale_until, row.expires_at);
    clock.advance(ms(1_000));
    assert_eq!(get_stale(&store, "ns", "k").await, None, "stale phase without stale_for");
}

/// Reads are pure: `get` of a stale row deletes nothing and changes no field,
/// so the row is still there for `get_stale`, and fresh again when the clock
/// goes back (CONTRACT.md §3). On an engine that is not self-expiring a dead row read
/// with `get` is also still there when the clock goes back.
pub async fn reads_are_pure<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let options = opts(1_000, 1_000).header("h", "1");
    put(&store, "ns", "k", b"v", options.clone()).await;
    put(&store, "ns", "dead", b"d", opts(1_000, 0)).await;
    let want = expected(b"v", &options, clock.now());
    clock.advance(ms(1_500));
    for _ in 0..3 {
        assert_eq!(get(&store, "ns", "k").await, None);
        assert_eq!(get(&store, "ns", "dead").await, None);
        assert_eq!(get_stale(&store, "ns", "dead").await, None);
        let many = ok("get_many", store.get_many(&[("ns", "k"), ("ns", "dead")]).await);
        assert_eq!(many, vec![None, None]);
    }
    assert_eq!(get_stale(&store, "ns", "k").await, Some(want.clone()), "a read changed the row");
    clock.rewind(ms(1_000));
    assert_eq!(get(&store, "ns", "k").await, Some(want), "a read changed or deleted the row");
    if !store.capabilities().self_expiring {
        assert!(get(&store, "ns", "dead").await.is_some(), "a read deleted a dead row");
    }
}

/// Overwriting a fresh row replaces every field (CONTRACT.md §3).
pub async fn overwrite_replaces_a_fresh_row<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"old payload", opts(10_000, 10_000).header("a", "1")).await;
    clock.advance(ms(7));
    let new = SetOptions::new().ttl(Ttl::Never).header("b", "2");
    put(&store, "ns", "k", b"new", new.clone()).await;
    assert_eq!(get(&store, "ns", "k").await, Some(expected(b"new", &new, clock.now())));
    clock.advance(ms(30_000));
    assert!(get(&store, "ns", "k").await.is_some(), "the old TTL survived the overwrite");
}

/// Overwriting a stale row makes it a fresh new row (CONTRACT.md §3).
pub async fn overwrite_revives_a_stale_row<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"old", opts(100, 10_000)).await;
    clock.advance(ms(200));
    assert_eq!(get(&store, "ns", "k").await, None);
    let new = opts(100, 0);
    put(&store, "ns", "k", b"new", new.clone()).await;
    assert_eq!(get(&store, "ns", "k").await, Some(expected(b"new", &new, clock.now())));
    clock.advance(ms(100));
    assert_eq!(get_stale(&store, "ns", "k").await, None, "the old stale window survived");
}

/// Overwriting a dead row makes it the new row, counted and scanned again
/// (CONTRACT.md §3).
pub async fn overwrite_replaces_a_dead_row<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"old", opts(100, 0).header("old", "1")).await;
    clock.advance(ms(200));
    let new = opts(1_000, 0);
    put(&store, "ns", "k", b"new", new.clone()).await;
    assert_eq!(get(&store, "ns", "k").await, Some(expected(b"new", &new, clock.now())));
    assert_eq!(ok("purge", store.purge_expired().await), 0, "purge removed the new row");
    assert!(get(&store, "ns", "k").await.is_some(), "purge removed the new row");
    assert_eq!(scan_all(&store, None, 10).await.len(), 1);
    assert_eq!(ok("stats", store.stats().await).fresh, 1);
}

/// An overwrite's headers replace the old ones; none are kept or merged
/// (CONTRACT.md §1, §3).
pub async fn overwrite_drops_old_headers<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    put(&store, "ns", "k", b"v", SetOptions::new().header("etag", "1").header("x", "y")).await;
    put(&store, "ns", "k", b"v", SetOptions::new().header("etag", "2")).await;
    let row = get(&store, "ns", "k").await.expect("row");
    assert_eq!(row.headers, headers([("etag", "2")]));
    put(&store, "ns", "k", b"v", SetOptions::new()).await;
    assert!(get(&store, "ns", "k").await.expect("row").headers.is_empty(), "headers kept");
}

/// Headers come back exactly as stored: none, empty names and values,
/// unicode, control characters and 1,000 entries (CONTRACT.md §1).
pub async fn headers_round_trip_exactly<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let many: Headers = (0..1_000).map(|i| (format!("x-h-{i:04}"), format!("value {i}"))).collect();
    let cases: Vec<(&str, Headers)> = vec![
        ("none", Headers::new()),
        ("empty", headers([("", ""), ("name", "")])),
        ("unicode", headers([("ключ", "значение 🦀"), ("日本", "語\u{0}\n\t\"'\\")])),
        ("many", many),
    ];
    for (key, h) in &cases {
        put(&store, "ns", key, b"v", SetOptions::new().headers(h.clone())).await;
    }
    for (key, h) in &cases {
        let row = get(&store, "ns", key).await.expect("row");
        assert_eq!(&row.headers, h, "headers of {key:?} changed");
    }
}

/// Payloads of 0 bytes and of 16 MiB round-trip byte for byte (CONTRACT.md §1).
pub async fn payloads_of_zero_bytes_and_16_mib_round_trip<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let big: Vec<u8> = (0..MIN_PAYLOAD_LIMIT).map(|i| (i.wrapping_mul(31) % 251) as u8).collect();
    put(&store, "ns", "empty", b"", SetOptions::new()).await;
    put(&store, "ns", "big", &big, SetOptions::new()).await;
    let empty = get(&store, "ns", "empty").await.expect("the empty payload's row");
    assert!(empty.payload.is_empty());
    let row = get(&store, "ns", "big").await.expect("the 16 MiB row");
    assert!(row.payload.len() == big.len() && row.payload[..] == big[..], "16 MiB payload changed");
    let stats = ok("stats", store.stats().await);
    if stats.exact {
        assert_eq!(stats.payload_bytes, MIN_PAYLOAD_LIMIT);
    }
}

/// A payload over the store's limit is `PayloadTooLarge`, never truncated;
/// the old row stays (CONTRACT.md §1).
pub async fn payload_over_the_limit_is_refused<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let limit = store.capabilities().max_payload;
    // Only limits a test can allocate; larger ones are left to the backend's own tests.
    let Ok(len) = usize::try_from(limit + 1) else { return };
    assert!(len <= 1 << 30, "max_payload of {limit} is too large to test; keep it under 1 GiB");
    put(&store, "ns", "k", b"old", SetOptions::new()).await;
    let err = store.set("ns", "k", Bytes::from(vec![0u8; len]), SetOptions::new()).await;
    assert!(
        matches!(err, Err(Error::PayloadTooLarge { size, limit: l }) if size == limit + 1 && l == limit),
        "expected PayloadTooLarge, got {err:?}"
    );
    assert_eq!(&get(&store, "ns", "k").await.expect("old row").payload[..], b"old");
}

/// Identities that differ only around delimiters, NUL or prefixes are
/// different rows: `("a:b","c")` is not `("a","b:c")` (CONTRACT.md §1).
pub async fn delimiters_and_nul_never_collide<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let ids = colliding_identities();
    for (i, (ns, key)) in ids.iter().enumerate() {
        put(&store, ns, key, format!("row {i}").as_bytes(), SetOptions::new()).await;
    }
    for (i, (ns, key)) in ids.iter().enumerate() {
        let row = get(&store, ns, key).await.unwrap_or_else(|| panic!("({ns:?}, {key:?}) lost"));
        assert_eq!(row.payload, format!("row {i}").as_bytes(), "({ns:?}, {key:?}) collided");
    }
    let scanned: Vec<(String, String)> =
        scan_all(&store, None, 4).await.into_iter().map(|(n, k, _)| (n, k)).collect();
    let mut want: Vec<(String, String)> =
        ids.iter().map(|(n, k)| ((*n).to_owned(), (*k).to_owned())).collect();
    want.sort();
    assert_eq!(scanned, want, "scan of colliding identities");
    assert_eq!(ok("clear_namespace", store.clear_namespace("a").await), 4);
    assert!(get(&store, "a:b", "c").await.is_some(), "clearing \"a\" removed (\"a:b\", \"c\")");
    assert_eq!(ok("stats", store.stats().await).fresh, ids.len() as u64 - 4);
}

/// Identities that a delimiter, a NUL or a shared prefix could confuse.
fn colliding_identities() -> Vec<(&'static str, &'static str)> {
    vec![
        ("a:b", "c"),
        ("a", "b:c"),
        ("a", "b\0c"),
        ("a\0b", "c"),
        ("a/b", "c"),
        ("a", "b/c"),
        ("ab", "c"),
        ("a", "bc"),
        ("\0", "\0"),
    ]
}

/// Invalid identities (empty, over 255 or 4096 bytes) are `InvalidKey` on
/// every operation, and nothing is written; the longest valid ones work
/// (CONTRACT.md §1).
pub async fn invalid_identities_are_rejected_everywhere<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let long_ns = "n".repeat(MAX_NAMESPACE_LEN + 1);
    // 2-byte characters: the limit is in bytes, not characters.
    let long_key = "é".repeat(MAX_KEY_LEN / 2 + 1);
    let bad: [(&str, &str, IdentityPart); 4] = [
        ("", "k", IdentityPart::Namespace),
        (&long_ns, "k", IdentityPart::Namespace),
        ("ns", "", IdentityPart::Key),
        ("ns", &long_key, IdentityPart::Key),
    ];
    let is_invalid = |r: &Result<(), Error>, part: IdentityPart| matches!(r, Err(Error::InvalidKey { part: p, .. }) if *p == part);
    for (ns, key, part) in bad {
        let what = format!("({} bytes, {} bytes)", ns.len(), key.len());
        let r = store.get(ns, key).await.map(drop);
        assert!(is_invalid(&r, part), "get{what}: {r:?}");
        let r = store.get_stale(ns, key).await.map(drop);
        assert!(is_invalid(&r, part), "get_stale{what}: {r:?}");
        let r = store.set(ns, key, Bytes::from_static(b"v"), SetOptions::new()).await;
        assert!(is_invalid(&r, part), "set{what}: {r:?}");
        let r = store.delete(ns, key).await.map(drop);
        assert!(is_invalid(&r, part), "delete{what}: {r:?}");
        let r = store.get_many(&[("ok", "ok"), (ns, key)]).await.map(drop);
        assert!(is_invalid(&r, part), "get_many{what}: {r:?}");
        let items = vec![
            SetItem::new("ok", "ok", "v", SetOptions::new()),
            SetItem::new(ns, key, "v", SetOptions::new()),
        ];
        let r = store.set_many(items).await;
        assert!(is_invalid(&r, part), "set_many{what}: {r:?}");
        if part == IdentityPart::Namespace {
            let r = store.clear_namespace(ns).await.map(drop);
            assert!(is_invalid(&r, part), "clear_namespace{what}: {r:?}");
            let r = store.scan(Some(ns), None, 10).await.map(drop);
            assert!(is_invalid(&r, part), "scan{what}: {r:?}");
        }
    }
    assert!(scan_all(&store, None, 10).await.is_empty(), "an invalid write left a row");
    let ns = "n".repeat(MAX_NAMESPACE_LEN);
    let key = "é".repeat(MAX_KEY_LEN / 2);
    put(&store, &ns, &key, b"v", SetOptions::new()).await;
    assert!(get(&store, &ns, &key).await.is_some(), "the longest valid identity");
}

/// A TTL, `Until` or stale window whose time cannot be represented is
/// `InvalidTtl`; nothing is written and the old row stays (CONTRACT.md §2).
pub async fn unrepresentable_ttls_are_rejected<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    put(&store, "ns", "k", b"old", SetOptions::new()).await;
    let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 1_000);
    let cases = [
        SetOptions::new().ttl(Ttl::For(Duration::MAX)),
        SetOptions::new().ttl(Ttl::For(ms(1))).stale_for(Duration::MAX),
        SetOptions::new().ttl(Ttl::Until(far)),
        SetOptions::new().ttl(Ttl::For(Duration::from_secs(i64::MAX as u64 / 1_000))),
    ];
    for options in cases {
        let what = format!("{:?} + {:?}", options.ttl, options.stale_for);
        let r = store.set("ns", "k", Bytes::from_static(b"new"), options.clone()).await;
        assert!(matches!(r, Err(Error::InvalidTtl { .. })), "set with {what}: {r:?}");
        let r = store.set_many(vec![SetItem::new("ns", "k", "new", options)]).await;
        assert!(matches!(r, Err(Error::InvalidTtl { .. })), "set_many with {what}: {r:?}");
    }
    assert_eq!(&get(&store, "ns", "k").await.expect("old row").payload[..], b"old");
}

/// Times are kept in whole milliseconds, truncated: `stored_at` is `now`
/// rounded down, `expires_at` and `stale_until` the full-precision sums
/// rounded down (CONTRACT.md §1).
pub async fn times_are_kept_in_whole_milliseconds<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    clock.advance(Duration::from_micros(1_999));
    let options = SetOptions::new()
        .ttl(Ttl::For(Duration::from_micros(1_500)))
        .stale_for(Duration::from_micros(700));
    put(&store, "ns", "k", b"v", options).await;
    let row = get(&store, "ns", "k").await.expect("row");
    let now = clock.now();
    assert_eq!(row.stored_at, trunc(now));
    assert_eq!(row.expires_at, Some(trunc(now + Duration::from_micros(1_500))));
    assert_eq!(row.stale_until, Some(trunc(now + Duration::from_micros(2_200))));
}

/// The clock may go backwards: a stale row is fresh again at an earlier
/// `now`, and a row written "in the future" is judged at the current `now`
/// (CONTRACT.md §2).
pub async fn clock_moving_back_revives_stale_rows<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "k", b"v", opts(1_000, 1_000)).await;
    clock.advance(ms(1_500));
    assert_eq!(get(&store, "ns", "k").await, None);
    clock.rewind(ms(600));
    assert!(get(&store, "ns", "k").await.is_some(), "fresh again at an earlier now");
    clock.rewind(Duration::from_secs(3_600));
    let row = get(&store, "ns", "k").await.expect("fresh long before it was written");
    assert!(row.stored_at > clock.now());
    assert_eq!(ok("purge", store.purge_expired().await), 0);
    assert_eq!(ok("stats", store.stats().await).fresh, 1);
}

/// `delete` removes the row and answers `true` only for a fresh or stale one
/// (CONTRACT.md §3).
pub async fn delete_reports_whether_a_live_row_was_there<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "fresh", b"v", opts(10_000, 0)).await;
    put(&store, "ns", "stale", b"v", opts(100, 10_000)).await;
    put(&store, "ns", "dead", b"v", opts(100, 0)).await;
    clock.advance(ms(200));
    assert!(ok("delete", store.delete("ns", "fresh").await), "delete of a fresh row");
    assert!(ok("delete", store.delete("ns", "stale").await), "delete of a stale row");
    assert!(!ok("delete", store.delete("ns", "dead").await), "delete of a dead row");
    assert!(!ok("delete", store.delete("ns", "fresh").await), "second delete");
    clock.rewind(ms(200));
    for key in ["fresh", "stale", "dead"] {
        assert_eq!(get_stale(&store, "ns", key).await, None, "{key} came back after delete");
    }
}

/// `purge_expired` removes exactly the dead rows and returns how many; fresh
/// and stale rows stay; a second purge returns 0. A self-expiring engine may
/// count fewer (CONTRACT.md §3).
pub async fn purge_removes_only_dead_rows_and_is_idempotent<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    for i in 0..3 {
        put(&store, "a", &format!("fresh{i}"), b"v", opts(10_000, 0)).await;
    }
    for i in 0..2 {
        put(&store, "b", &format!("stale{i}"), b"v", opts(100, 10_000)).await;
    }
    for i in 0..4 {
        put(&store, if i % 2 == 0 { "a" } else { "c" }, &format!("dead{i}"), b"v", opts(100, 0))
            .await;
    }
    clock.advance(ms(100));
    let purged = ok("purge", store.purge_expired().await);
    if store.capabilities().self_expiring {
        assert!(purged <= 4, "purge counted {purged} of 4 dead rows");
    } else {
        assert_eq!(purged, 4, "purge count");
    }
    assert_eq!(ok("purge", store.purge_expired().await), 0, "second purge");
    let live = scan_all(&store, None, 10).await;
    assert_eq!(live.len(), 5, "purge touched a fresh or stale row");
    clock.rewind(ms(100));
    for i in 0..4 {
        let ns = if i % 2 == 0 { "a" } else { "c" };
        assert_eq!(get(&store, ns, &format!("dead{i}")).await, None, "a purged row came back");
    }
}

/// A row removed by `purge_expired` stays removed when the clock goes back;
/// rows not purged come back to life (CONTRACT.md §2).
pub async fn purged_rows_stay_gone<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "purged", b"v", opts(100, 0)).await;
    clock.advance(ms(100));
    ok("purge", store.purge_expired().await);
    put(&store, "ns", "later", b"v", opts(100, 0)).await;
    clock.rewind(ms(100));
    assert_eq!(get_stale(&store, "ns", "purged").await, None, "a purged row came back");
    assert!(get(&store, "ns", "later").await.is_some(), "a row written after purge is gone");
}

/// `clear_namespace` removes that namespace's rows, dead ones included, and
/// no other (not `"ab"` nor `"a:b"` for `"a"`); it returns how many fresh or
/// stale rows went (CONTRACT.md §3).
pub async fn clear_namespace_removes_only_that_namespace<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "a", "fresh", b"v", opts(10_000, 0)).await;
    put(&store, "a", "stale", b"v", opts(100, 10_000)).await;
    put(&store, "a", "dead", b"v", opts(100, 0)).await;
    for ns in ["ab", "a:b", "b", "A"] {
        put(&store, ns, "fresh", b"v", opts(10_000, 0)).await;
    }
    clock.advance(ms(150));
    assert_eq!(ok("clear_namespace", store.clear_namespace("a").await), 2);
    assert_eq!(ok("clear_namespace", store.clear_namespace("a").await), 0, "second clear");
    assert_eq!(ok("clear_namespace", store.clear_namespace("none").await), 0);
    clock.rewind(ms(150));
    assert!(scan_all(&store, Some("a"), 10).await.is_empty(), "rows of \"a\" survived");
    assert_eq!(get(&store, "a", "dead").await, None, "a dead row of \"a\" survived the clear");
    for ns in ["ab", "a:b", "b", "A"] {
        assert!(get(&store, ns, "fresh").await.is_some(), "clearing \"a\" removed {ns:?}");
    }
}

/// `clear_all` removes every row and returns how many fresh or stale ones
/// went (CONTRACT.md §3).
pub async fn clear_all_removes_everything<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "a", "fresh", b"v", opts(10_000, 0)).await;
    put(&store, "b", "stale", b"v", opts(100, 10_000)).await;
    put(&store, "c", "dead", b"v", opts(100, 0)).await;
    clock.advance(ms(150));
    assert_eq!(ok("clear_all", store.clear_all().await), 2);
    assert_eq!(ok("clear_all", store.clear_all().await), 0);
    clock.rewind(ms(150));
    assert!(scan_all(&store, None, 10).await.is_empty(), "rows survived clear_all");
    let stats = ok("stats", store.stats().await);
    assert_eq!((stats.fresh, stats.stale, stats.payload_bytes), (0, 0, 0));
    assert!(stats.namespaces.is_empty(), "stats still list namespaces: {:?}", stats.namespaces);
}

/// `get_many` answers like `get`, in input order, duplicates included
/// (CONTRACT.md §3).
pub async fn get_many_answers_in_input_order<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    put(&store, "ns", "a", b"A", opts(10_000, 0)).await;
    put(&store, "ns", "b", b"B", opts(10_000, 0)).await;
    put(&store, "ns", "stale", b"S", opts(100, 10_000)).await;
    clock.advance(ms(100));
    let ids = [("ns", "b"), ("ns", "missing"), ("ns", "a"), ("ns", "stale"), ("ns", "b")];
    let got = ok("get_many", store.get_many(&ids).await);
    let payloads: Vec<Option<&[u8]>> =
        got.iter().map(|e| e.as_ref().map(|e| &e.payload[..])).collect();
    let want: Vec<Option<&[u8]>> = vec![Some(b"B"), None, Some(b"A"), None, Some(b"B")];
    assert_eq!(payloads, want);
    for ((ns, key), entry) in ids.iter().zip(&got) {
        let direct = ok("get", store.get(ns, key).await);
        assert_eq!(entry, &direct, "get_many and get differ on {key}");
    }
    assert!(ok("get_many", store.get_many(&[]).await).is_empty());
}

/// A restore write (`SetOptions::stored_at`, for import and migrate) keeps
/// the given `stored_at`, counts a `Ttl::For` from it, and is judged at the
/// clock's `now` like any row; a `stored_at` after `now` is `InvalidTtl`
/// with nothing written; `set_many` items each keep their own; `set_if`
/// refuses one (CONTRACT.md §3).
pub async fn restore_writes_keep_their_stored_at<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let now = trunc(clock.now());
    let hour = Duration::from_secs(3600);
    let restored = SetOptions::new().ttl(Ttl::For(2 * hour)).stored_at(now - hour);
    put(&store, "ns", "an hour old", b"a", restored.clone()).await;
    let row = get(&store, "ns", "an hour old").await.expect("fresh for another hour");
    assert_eq!(row.stored_at, now - hour, "the given stored_at was not kept");
    assert_eq!(row.expires_at, Some(now + hour), "Ttl::For did not count from stored_at");
    let expired = opts(2 * 3_600_000, 2 * 3_600_000).stored_at(now - 3 * hour);
    put(&store, "ns", "three hours old", b"b", expired).await;
    assert_eq!(get(&store, "ns", "three hours old").await, None, "expired an hour ago");
    assert!(get_stale(&store, "ns", "three hours old").await.is_some(), "in its stale window");

    let future = SetOptions::new().stored_at(now + Duration::from_millis(1));
    let r = store.set("ns", "an hour old", Bytes::from_static(b"new"), future.clone()).await;
    assert!(matches!(r, Err(Error::InvalidTtl { .. })), "a stored_at after now: {r:?}");
    assert_eq!(&get(&store, "ns", "an hour old").await.expect("intact").payload[..], b"a");

    let items = vec![
        SetItem::new("m", "1", Bytes::new(), SetOptions::new().stored_at(now - 2 * hour)),
        SetItem::new("m", "2", Bytes::new(), SetOptions::new().stored_at(now - hour)),
        SetItem::new("m", "3", Bytes::new(), SetOptions::new()),
    ];
    ok("set_many", store.set_many(items).await);
    for (key, age) in [("1", 2 * hour), ("2", hour), ("3", Duration::ZERO)] {
        let row = get(&store, "m", key).await.expect("written");
        assert_eq!(row.stored_at, now - age, "set_many item {key}");
    }
    let stats = ok("stats", store.stats().await);
    if stats.exact {
        assert_eq!(stats.oldest, Some(now - 3 * hour), "stats' oldest row");
    }
    let cond =
        store.set_if("ns", "x", Bytes::new(), restored, cachestore_core::Condition::IfAbsent).await;
    assert!(
        matches!(cond, Err(Error::InvalidTtl { .. } | Error::Unsupported { .. })),
        "set_if took a stored_at: {cond:?}"
    );
    assert_eq!(get_stale(&store, "ns", "x").await, None);
}

/// `set_many` writes every row as `set` would; a later item for the same
/// identity wins (CONTRACT.md §3).
pub async fn set_many_writes_every_row_later_items_win<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let first = opts(1_000, 0).header("n", "1");
    let last = opts(2_000, 500).header("n", "2");
    let items = vec![
        SetItem::new("ns", "a", "A1", first.clone()),
        SetItem::new("ns", "b", "B", first.clone()),
        SetItem::new("other", "a", "O", first.clone()),
        SetItem::new("ns", "a", "A2", last.clone()),
    ];
    ok("set_many", store.set_many(items).await);
    assert_eq!(get(&store, "ns", "a").await, Some(expected(b"A2", &last, clock.now())));
    assert_eq!(get(&store, "ns", "b").await, Some(expected(b"B", &first, clock.now())));
    assert_eq!(get(&store, "other", "a").await, Some(expected(b"O", &first, clock.now())));
    ok("set_many", store.set_many(Vec::new()).await);
    assert_eq!(ok("stats", store.stats().await).fresh, 3);
}

/// A `set_many` with one invalid item (identity, TTL or payload) fails with
/// that item's error and writes nothing (CONTRACT.md §3).
pub async fn set_many_with_an_invalid_item_writes_nothing<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    put(&store, "ns", "a", b"old", SetOptions::new()).await;
    let good = SetItem::new("ns", "a", "new", SetOptions::new());
    let other = SetItem::new("ns", "b", "new", SetOptions::new());
    let bad_ttl = SetItem::new("ns", "c", "x", SetOptions::new().ttl(Ttl::For(Duration::MAX)));
    let r = store.set_many(vec![good.clone(), other.clone(), bad_ttl]).await;
    assert!(matches!(r, Err(Error::InvalidTtl { .. })), "{r:?}");
    let bad_key = SetItem::new("ns", "", "x", SetOptions::new());
    let r = store.set_many(vec![good.clone(), other.clone(), bad_key]).await;
    assert!(matches!(r, Err(Error::InvalidKey { .. })), "{r:?}");
    assert_eq!(&get(&store, "ns", "a").await.expect("old row").payload[..], b"old");
    assert_eq!(get(&store, "ns", "b").await, None, "a failed set_many wrote a row");
}

/// `scan` returns every fresh and stale row, and no dead one, in
/// `(namespace, key)` byte order (UTF-8 bytes, not UTF-16 or characters),
/// whatever the page size; with a namespace, only its rows (CONTRACT.md §3).
pub async fn scan_returns_live_rows_in_byte_order<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let keys = ["z", "é", "\u{FFFF}", "\u{10000}", "A", "a", "a\0", "aa", "b:c"];
    let namespaces = ["a", "a:b", "ab", "a\0"];
    let mut want = Vec::new();
    for ns in namespaces {
        for (i, key) in keys.iter().enumerate() {
            let options = if i % 3 == 0 { opts(100, 10_000) } else { opts(10_000, 0) };
            put(&store, ns, key, format!("{ns}/{key}").as_bytes(), options).await;
            want.push((ns.to_owned(), (*key).to_owned()));
        }
        put(&store, ns, "dead", b"d", opts(100, 0)).await;
    }
    want.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    clock.advance(ms(100));
    // Any limit is legal, up to usize::MAX: none may panic, overflow or
    // allocate by it.
    for page in [0, 1, 2, 3, 7, 1_000, 1 << 40, usize::MAX] {
        let got = scan_all(&store, None, page).await;
        let ids: Vec<(String, String)> =
            got.iter().map(|(n, k, _)| (n.clone(), k.clone())).collect();
        assert_eq!(ids, want, "scan with page size {page}");
        for (ns, key, entry) in &got {
            assert_eq!(
                entry.payload,
                format!("{ns}/{key}").as_bytes(),
                "scan entry of ({ns:?}, {key:?})"
            );
        }
    }
    let only: Vec<String> =
        scan_all(&store, Some("a"), 2).await.into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(only, vec!["a".to_owned(); keys.len()], "scan of namespace \"a\"");
}

/// A scan resumed page by page while rows are written, overwritten and
/// deleted returns every row present for the whole scan exactly once, in
/// order (CONTRACT.md §3).
pub async fn scan_resumes_correctly_while_writes_go_on<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let stable: Vec<String> = (0..40).map(|i| format!("k{:03}", i * 10)).collect();
    for key in &stable {
        put(&store, "ns", key, b"v0", SetOptions::new()).await;
    }
    for i in 0..40 {
        put(&store, "ns", &format!("k{:03}", i * 10 + 5), b"gone", SetOptions::new()).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut round = 0u32;
    loop {
        let page = ok("scan", store.scan(Some("ns"), cursor.as_ref(), 3).await);
        seen.extend(page.items.iter().map(|i| i.key.clone()));
        // Writes between pages: new rows before and after the cursor,
        // overwrites of stable rows, deletes of the transient ones.
        round += 1;
        put(&store, "ns", &format!("k{:03}", round * 7 % 400 + 1), b"new", SetOptions::new()).await;
        put(&store, "ns", &format!("a{round}"), b"before", SetOptions::new()).await;
        put(&store, "ns", &stable[(round as usize * 3) % stable.len()], b"v1", SetOptions::new())
            .await;
        ok("delete", store.delete("ns", &format!("k{:03}", (round % 40) * 10 + 5)).await);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(round < 10_000, "scan does not end");
    }
    for pair in seen.windows(2) {
        assert!(pair[0].as_bytes() < pair[1].as_bytes(), "scan out of order or repeated: {pair:?}");
    }
    let seen: BTreeSet<&String> = seen.iter().collect();
    for key in &stable {
        assert!(seen.contains(key), "stable row {key} was skipped by a resumed scan");
    }
}

/// A scan resumes from any cursor, its own or not: a namespace's scan from
/// a cursor before the namespace starts at its first row, from one inside
/// it goes on strictly after it, from one past it returns nothing; a scan of
/// every namespace from a cursor of another store's rows goes on strictly
/// after it in byte order (CONTRACT.md §3: a cursor is an identity, and the
/// scan starts strictly after it).
pub async fn scans_resume_from_any_cursor<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let namespaces = ["a", "b", "b\0", "ba", "c"];
    let keys = ["", "\0", "k1", "k2", "k3", "é"];
    let mut all = Vec::new();
    for ns in namespaces {
        for key in keys.iter().filter(|k| !k.is_empty()) {
            put(&store, ns, key, b"v", SetOptions::new()).await;
            all.push((ns.to_owned(), (*key).to_owned()));
        }
    }
    all.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    let cursors: Vec<(String, String)> = ["", "a", "a\u{10FFFF}", "b", "b\0", "ba", "bb", "c", "d"]
        .iter()
        .flat_map(|ns| {
            keys.iter().chain(&["k0", "k2\0", "z"]).map(move |k| (ns.to_string(), k.to_string()))
        })
        .collect();
    for (at_ns, at_key) in &cursors {
        let cursor = cachestore_core::ScanCursor { namespace: at_ns.clone(), key: at_key.clone() };
        let after = |row: &(String, String)| {
            (row.0.as_bytes(), row.1.as_bytes()) > (at_ns.as_bytes(), at_key.as_bytes())
        };
        for scanned in [None, Some("b")] {
            let want: Vec<&(String, String)> = all
                .iter()
                .filter(|row| after(row) && scanned.is_none_or(|ns| row.0 == ns))
                .collect();
            for page in [1, 2, 100] {
                let mut got = Vec::new();
                let mut next = Some(cursor.clone());
                for _ in 0..1_000 {
                    let Some(at) = next.take() else { break };
                    let p = ok("scan", store.scan(scanned, Some(&at), page).await);
                    got.extend(p.items.into_iter().map(|i| (i.namespace, i.key)));
                    next = p.next;
                }
                let got: Vec<&(String, String)> = got.iter().collect();
                assert_eq!(
                    got, want,
                    "scan of {scanned:?} resumed after ({at_ns:?}, {at_key:?}), pages of {page}"
                );
            }
        }
    }
}

/// Scans of namespaces larger than any batch a backend reads in (several
/// thousand rows), with page sizes that do and do not divide such a batch,
/// return every row once, in order (CONTRACT.md §3).
pub async fn scans_cross_internal_batches_intact<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    let mut want = Vec::new();
    for (ns, rows) in [("big", 2_500u32), ("next", 1_200)] {
        let mut items = Vec::new();
        for i in 0..rows {
            let key = format!("k{i:05}");
            items.push(SetItem::new(ns, key.clone(), key.clone().into_bytes(), SetOptions::new()));
            want.push((ns.to_owned(), key));
        }
        for chunk in items.chunks(500) {
            ok("set_many", store.set_many(chunk.to_vec()).await);
        }
    }
    for page in [7, 999, 1_000, 1_001, 4_096] {
        for namespace in [None, Some("big")] {
            let got = scan_all(&store, namespace, page).await;
            let ids: Vec<(String, String)> =
                got.iter().map(|(n, k, _)| (n.clone(), k.clone())).collect();
            let want: Vec<(String, String)> =
                want.iter().filter(|(n, _)| namespace.is_none_or(|ns| ns == n)).cloned().collect();
            assert_eq!(
                ids.len(),
                want.len(),
                "scan of {namespace:?} in pages of {page}: row count"
            );
            assert!(ids == want, "scan of {namespace:?} in pages of {page}: rows differ");
            for (_, key, entry) in &got {
                assert_eq!(entry.payload, key.as_bytes(), "the payload of {key}");
            }
        }
    }
}

/// `stats` counts fresh and stale rows and their payload bytes, overall and
/// per namespace, after every kind of operation; dead rows are not counted.
/// A store without exact stats says so (CONTRACT.md §3).
pub async fn stats_follow_every_operation<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let exact = store.capabilities().exact_stats;
    let check = |want: &[(&str, u64, u64, u64)], stats: Stats, step: &str| {
        assert_eq!(stats.exact, exact, "Stats::exact disagrees with capabilities, {step}");
        if !exact {
            return;
        }
        let mut namespaces = BTreeMap::new();
        let (mut fresh, mut stale, mut bytes) = (0, 0, 0);
        for &(ns, f, s, b) in want {
            namespaces.insert(ns.to_owned(), (f, s, b));
            (fresh, stale, bytes) = (fresh + f, stale + s, bytes + b);
        }
        assert_eq!(
            (stats.fresh, stats.stale, stats.payload_bytes),
            (fresh, stale, bytes),
            "totals {step}"
        );
        let got: BTreeMap<String, (u64, u64, u64)> = stats
            .namespaces
            .iter()
            .filter(|(_, n)| n.fresh + n.stale > 0)
            .map(|(ns, n): (&String, &NamespaceStats)| {
                (ns.clone(), (n.fresh, n.stale, n.payload_bytes))
            })
            .collect();
        assert_eq!(got, namespaces, "per namespace (fresh, stale, bytes) {step}");
    };
    check(&[], ok("stats", store.stats().await), "when empty");
    put(&store, "a", "1", b"12345", opts(1_000, 1_000)).await;
    put(&store, "a", "2", b"123", opts(1_000, 0)).await;
    put(&store, "b", "1", b"1", SetOptions::new()).await;
    check(&[("a", 2, 0, 8), ("b", 1, 0, 1)], ok("stats", store.stats().await), "after set");
    put(&store, "b", "1", b"1234567", SetOptions::new()).await;
    check(&[("a", 2, 0, 8), ("b", 1, 0, 7)], ok("stats", store.stats().await), "after overwrite");
    clock.advance(ms(1_000));
    check(&[("a", 0, 1, 5), ("b", 1, 0, 7)], ok("stats", store.stats().await), "after expiry");
    ok("purge", store.purge_expired().await);
    check(&[("a", 0, 1, 5), ("b", 1, 0, 7)], ok("stats", store.stats().await), "after purge");
    clock.advance(ms(1_000));
    check(&[("b", 1, 0, 7)], ok("stats", store.stats().await), "after the stale row died");
    clock.rewind(ms(2_000));
    check(&[("a", 1, 0, 5), ("b", 1, 0, 7)], ok("stats", store.stats().await), "clock back");
    ok("delete", store.delete("b", "1").await);
    check(&[("a", 1, 0, 5)], ok("stats", store.stats().await), "after delete");
    let items = vec![
        SetItem::new("c", "1", "12", SetOptions::new()),
        SetItem::new("c", "2", "", SetOptions::new()),
    ];
    ok("set_many", store.set_many(items).await);
    check(&[("a", 1, 0, 5), ("c", 2, 0, 2)], ok("stats", store.stats().await), "after set_many");
    ok("clear_namespace", store.clear_namespace("a").await);
    check(&[("c", 2, 0, 2)], ok("stats", store.stats().await), "after clear_namespace");
    ok("clear_all", store.clear_all().await);
    check(&[], ok("stats", store.stats().await), "after clear_all");
}

/// `stats` also reports the dead rows not yet purged, the span of the live
/// rows' `stored_at`, and (for a store in files) its size on disk
/// (CONTRACT.md §10). Counting dead rows never removes them.
pub async fn stats_report_dead_rows_and_the_stored_span<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let caps = store.capabilities();
    let empty = ok("stats", store.stats().await);
    assert_eq!((empty.dead, empty.oldest, empty.newest), (0, None, None), "an empty store");
    let first = trunc(clock.now());
    put(&store, "a", "1", b"x", opts(1_000, 0)).await;
    clock.advance(ms(10));
    put(&store, "a", "2", b"x", opts(10_000, 0)).await;
    clock.advance(ms(10));
    let last = trunc(clock.now());
    put(&store, "b", "1", b"x", SetOptions::new()).await;
    let stats = ok("stats", store.stats().await);
    assert_eq!((stats.oldest, stats.newest), (Some(first), Some(last)), "the stored span");
    assert_eq!(stats.namespaces["a"].oldest, Some(first));
    assert_eq!(stats.namespaces["b"].newest, Some(last));
    assert_eq!(stats.dead, 0);
    clock.advance(ms(1_000)); // a/1 is dead, not purged
    let stats = ok("stats", store.stats().await);
    if caps.self_expiring {
        assert!(stats.dead <= 1, "{} dead rows counted, 1 at most", stats.dead);
    } else {
        assert_eq!((stats.dead, stats.namespaces["a"].dead), (1, 1), "the dead row is not counted");
        assert!((stats.dead_ratio() - 1.0 / 3.0).abs() < 1e-9, "dead ratio {}", stats.dead_ratio());
    }
    assert_eq!(stats.oldest, Some(first + ms(10)), "a dead row counted in the span");
    let purged = ok("purge", store.purge_expired().await);
    assert!(caps.self_expiring || purged == 1, "counting dead rows removed them: purged {purged}");
    assert_eq!(ok("stats", store.stats().await).dead, 0, "dead rows counted after the purge");
    if caps.persistent && !caps.self_expiring {
        assert!(stats.disk_bytes.is_some_and(|b| b > 0), "a store in files without its size");
    }
}

/// 16 tasks × 1,000 operations on one handle: every single-row operation is
/// atomic, so every read sees a whole row written by one `set`, and each
/// task's last write is what remains (CONTRACT.md §5).
pub async fn concurrent_tasks_keep_rows_whole<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    concurrent_tasks(Arc::new(store), 16, 1_000).await;
}

/// `tasks` tasks × `ops` operations on one handle, as
/// [`concurrent_tasks_keep_rows_whole`] does: backends call it with more
/// operations in their own load tests. Writes to 8 shared keys and one own
/// key per task; every read must be a whole row, and each task's own last
/// write must be what it reads and what remains.
pub async fn concurrent_tasks<S: CacheStore>(store: Arc<S>, tasks: usize, ops: usize) {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut last_own = None;
            for op in 0..ops {
                // Shared keys are written by every task; own keys by one.
                let shared = format!("shared{}", op % 8);
                let own = format!("own{task}");
                let value = format!("{task}:{op}:{}", "x".repeat(op % 64));
                let options = SetOptions::new()
                    .header("value", value.clone())
                    .header("task", task.to_string());
                match op % 5 {
                    0 | 1 => {
                        ok(
                            "set",
                            store.set("ns", &shared, Bytes::from(value.clone()), options).await,
                        );
                    }
                    2 => {
                        ok("set", store.set("ns", &own, Bytes::from(value.clone()), options).await);
                        last_own = Some(value);
                    }
                    3 => {
                        if let Some(row) = ok("get", store.get("ns", &shared).await) {
                            let value = row.headers.get("value").cloned().unwrap_or_default();
                            assert_eq!(
                                row.payload,
                                value.as_bytes(),
                                "a torn row: payload and headers of different writes"
                            );
                            let writer = value.split(':').next().unwrap_or_default();
                            assert_eq!(
                                row.headers.get("task").map(String::as_str),
                                Some(writer),
                                "a torn row"
                            );
                        }
                    }
                    _ => {
                        let row = ok("get", store.get("ns", &own).await);
                        assert_eq!(
                            row.map(|r| r.payload),
                            last_own.clone().map(Bytes::from),
                            "task {task} did not read its own last write"
                        );
                    }
                }
            }
            last_own
        }));
    }
    let mut lasts = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(last) => lasts.push(last),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a task failed: {e}"),
        }
    }
    for (task, last) in lasts.into_iter().enumerate() {
        let row = get(store.as_ref(), "ns", &format!("own{task}")).await;
        assert_eq!(row.map(|r| r.payload), last.map(Bytes::from), "task {task}'s last write");
    }
    let stats = ok("stats", store.stats().await);
    if stats.exact {
        // Shared keys written: op % 8 for the ops with op % 5 < 2; own keys:
        // one per task once a task reaches op 2.
        let shared: BTreeSet<usize> = (0..ops).filter(|op| op % 5 < 2).map(|op| op % 8).collect();
        let own = if ops > 2 { tasks } else { 0 };
        assert_eq!(stats.fresh, (shared.len() + own) as u64, "row count after the tasks");
    }
}

/// After a reopen every row is there with every field, in its phase at the
/// new `now` (CONTRACT.md §5).
pub async fn reopen_keeps_every_row_and_field<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    let a = opts(10_000, 5_000).header("ключ", "🦀").header("", "");
    let b = SetOptions::new().ttl(Ttl::Never);
    let c = opts(100, 10_000);
    put(&store, "a:b", "c", b"A", a.clone()).await;
    put(&store, "a", "b:c", b"", b.clone()).await;
    put(&store, "ns", "stale", b"C", c.clone()).await;
    let written = clock.now();
    clock.advance(ms(500));
    let store = ok("reopen", factory.reopen(store, clock.clone()).await);
    assert_eq!(get(&store, "a:b", "c").await, Some(expected(b"A", &a, written)));
    assert_eq!(get(&store, "a", "b:c").await, Some(expected(b"", &b, written)));
    assert_eq!(get(&store, "ns", "stale").await, None, "a stale row is fresh after reopen");
    assert_eq!(get_stale(&store, "ns", "stale").await, Some(expected(b"C", &c, written)));
    assert_eq!(scan_all(&store, None, 2).await.len(), 3);
    let stats = ok("stats", store.stats().await);
    if stats.exact {
        assert_eq!((stats.fresh, stats.stale, stats.payload_bytes), (2, 1, 2));
    }
}

/// Deletes, overwrites, clears and purges are as durable as writes: after
/// a reopen, removed rows stay removed (CONTRACT.md §5).
pub async fn reopen_keeps_phases_deletes_and_purges<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    for key in ["deleted", "purged", "kept", "overwritten"] {
        put(&store, "ns", key, b"old", opts(100, 0)).await;
    }
    put(&store, "gone", "k", b"v", SetOptions::new()).await;
    ok("delete", store.delete("ns", "deleted").await);
    ok("clear_namespace", store.clear_namespace("gone").await);
    put(&store, "ns", "overwritten", b"new", SetOptions::new()).await;
    put(&store, "ns", "kept", b"kept", opts(10_000, 0)).await;
    clock.advance(ms(100));
    assert_eq!(ok("purge", store.purge_expired().await), 1, "purge");
    let store = ok("reopen", factory.reopen(store, clock.clone()).await);
    clock.rewind(ms(100));
    let ids: Vec<(String, String)> =
        scan_all(&store, None, 10).await.into_iter().map(|(n, k, _)| (n, k)).collect();
    assert_eq!(ids, vec![("ns".into(), "kept".into()), ("ns".into(), "overwritten".into())]);
    assert_eq!(&get(&store, "ns", "overwritten").await.expect("row").payload[..], b"new");
    let store = ok("second reopen", factory.reopen(store, clock.clone()).await);
    assert_eq!(scan_all(&store, None, 10).await.len(), 2, "rows changed across a second reopen");
}
