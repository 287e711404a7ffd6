//! Golden files: a small store written by one release, committed, and
//! opened by every later one. Backends call [`write()`] once to make their
//! fixture (never to make a test pass) and [`check()`] in a test.

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, ManualClock, SetOptions, Ttl};

/// The rows of every fixture: identity, payload, options.
pub fn rows() -> Vec<(&'static str, &'static str, Bytes, SetOptions)> {
    vec![
        ("a:b", "c", Bytes::from_static(b"colliding 1"), SetOptions::new()),
        (
            "a",
            "b:c",
            Bytes::from_static(b"colliding 2"),
            SetOptions::new().header("etag", "\"v1\""),
        ),
        ("\0", "\0", Bytes::new(), SetOptions::new().header("", "").header("ключ", "🦀")),
        (
            "movies",
            "fresh",
            Bytes::from(vec![7u8; 3000]),
            SetOptions::new()
                .ttl(Ttl::For(Duration::from_secs(3600)))
                .stale_for(Duration::from_secs(86_400)),
        ),
        (
            "movies",
            "stale",
            Bytes::from_static(b"old"),
            SetOptions::new().ttl(Ttl::For(Duration::ZERO)).stale_for(Duration::from_secs(60)),
        ),
        (
            "movies",
            "dead",
            Bytes::from_static(b"gone"),
            SetOptions::new().ttl(Ttl::For(Duration::ZERO)),
        ),
    ]
}

/// Writes the fixture rows into `store`, whose clock stands at
/// [`ManualClock::DEFAULT_START`].
pub async fn write<S: CacheStore + ?Sized>(store: &S) {
    for (ns, key, payload, options) in rows() {
        store
            .set(ns, key, payload, options)
            .await
            .unwrap_or_else(|e| panic!("writing the fixture: {e}"));
    }
}

/// Checks a store opened from a fixture, on a clock at
/// [`ManualClock::DEFAULT_START`]: every row with every field, phases, and
/// that the store still takes writes and purges.
pub async fn check<S: CacheStore + ?Sized>(store: &S) {
    let written_at = std::time::UNIX_EPOCH + ManualClock::DEFAULT_START;
    for (ns, key, payload, options) in rows() {
        let got = store
            .get_stale(ns, key)
            .await
            .unwrap_or_else(|e| panic!("reading ({ns:?}, {key:?}): {e}"));
        if key == "dead" {
            assert_eq!(got, None, "a dead row is visible");
            continue;
        }
        let row = got.unwrap_or_else(|| panic!("({ns:?}, {key:?}) is missing from the fixture"));
        assert_eq!(row.payload, payload, "({ns:?}, {key:?})");
        assert_eq!(row.headers, options.headers, "({ns:?}, {key:?})");
        assert_eq!(row.stored_at, written_at, "({ns:?}, {key:?})");
    }
    assert!(store.get("movies", "fresh").await.expect("read").is_some());
    assert!(store.get("movies", "stale").await.expect("read").is_none());
    assert_eq!(store.purge_expired().await.expect("purge"), 1);
    store.set("new", "row", Bytes::from_static(b"v"), SetOptions::new()).await.expect("writable");
}
