//! Small helpers shared by the behaviours and the model test.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use cachestore_core::raw::{RowTimes, from_unix_millis, to_unix_millis};
use cachestore_core::{Bytes, CacheStore, Entry, Error, Headers, ManualClock, SetOptions, Ttl};

use crate::StoreFactory;

/// Opens a fresh store on a new `ManualClock`, or fails the test saying why.
pub(crate) async fn open<F: StoreFactory>(factory: &F) -> (F::Store, ManualClock) {
    let clock = ManualClock::new();
    let store = factory
        .open(clock.clone())
        .await
        .unwrap_or_else(|e| panic!("StoreFactory::open failed: {e} ({e:?})"));
    (store, clock)
}

/// Unwraps a store result, failing the test with the operation's name.
pub(crate) fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

/// Milliseconds as a `Duration`.
pub(crate) const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A TTL of `ttl` ms with a stale window of `stale` ms.
pub(crate) fn opts(ttl: u64, stale: u64) -> SetOptions {
    SetOptions::new().ttl(Ttl::For(ms(ttl))).stale_for(ms(stale))
}

/// `now` truncated to whole milliseconds, as a store keeps it.
pub(crate) fn trunc(t: SystemTime) -> SystemTime {
    let ms = to_unix_millis(t).unwrap_or_else(|e| panic!("test time out of range: {e}"));
    from_unix_millis(ms).unwrap_or_else(|| panic!("test time out of range: {ms}"))
}

/// The entry a store must return for a row written at `now` with `options`.
pub(crate) fn expected(payload: &[u8], options: &SetOptions, now: SystemTime) -> Entry {
    let times = RowTimes::resolve(now, options.ttl, options.stale_for)
        .unwrap_or_else(|e| panic!("test TTL out of range: {e}"));
    Entry::from_parts(Bytes::copy_from_slice(payload), options.headers.clone(), times)
        .unwrap_or_else(|| panic!("test times out of range: {times:?}"))
}

/// Headers from pairs.
pub(crate) fn headers<const N: usize>(pairs: [(&str, &str); N]) -> Headers {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<BTreeMap<_, _>>()
}

/// Writes a row, failing the test on error.
pub(crate) async fn put<S: CacheStore + ?Sized>(
    store: &S,
    namespace: &str,
    key: &str,
    payload: &[u8],
    options: SetOptions,
) {
    ok(
        &format!("set({namespace:?}, {key:?})"),
        store.set(namespace, key, Bytes::copy_from_slice(payload), options).await,
    );
}

/// Reads a fresh row, failing the test on error.
pub(crate) async fn get<S: CacheStore + ?Sized>(
    store: &S,
    namespace: &str,
    key: &str,
) -> Option<Entry> {
    unversioned(ok(&format!("get({namespace:?}, {key:?})"), store.get(namespace, key).await))
}

/// The entry with version 0: the behaviours of v1 compare rows with
/// [`expected`], which cannot know the version a store gave; versions have
/// behaviours of their own.
pub(crate) fn unversioned(e: Option<Entry>) -> Option<Entry> {
    e.map(|e| Entry { version: 0, ..e })
}

/// Reads a fresh or stale row, failing the test on error.
pub(crate) async fn get_stale<S: CacheStore + ?Sized>(
    store: &S,
    namespace: &str,
    key: &str,
) -> Option<Entry> {
    unversioned(ok(
        &format!("get_stale({namespace:?}, {key:?})"),
        store.get_stale(namespace, key).await,
    ))
}

/// Every fresh and stale row, by scanning in pages of `page`.
pub(crate) async fn scan_all<S: CacheStore + ?Sized>(
    store: &S,
    namespace: Option<&str>,
    page: usize,
) -> Vec<(String, String, Entry)> {
    let mut out = Vec::new();
    let mut cursor = None;
    // A store that never ends a scan must fail the test, not hang it.
    for _ in 0..100_000 {
        let p = ok("scan", store.scan(namespace, cursor.as_ref(), page).await);
        assert!(
            p.items.len() <= page.max(1),
            "scan returned {} rows for a limit of {page}",
            p.items.len()
        );
        out.extend(
            p.items.into_iter().map(|i| (i.namespace, i.key, Entry { version: 0, ..i.entry })),
        );
        match p.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("scan did not finish after 100,000 pages");
}

/// Whether the store declares `flag`; if not, checks that `refused` is
/// [`Error::Unsupported`] and says loudly that `behaviour` was skipped.
pub(crate) fn declares<T: std::fmt::Debug>(
    flag: bool,
    behaviour: &str,
    what: &str,
    refused: Result<T, Error>,
) -> bool {
    if flag {
        return true;
    }
    assert!(
        matches!(refused, Err(Error::Unsupported { .. })),
        "{behaviour}: the store does not declare {what}, yet did not refuse it: {refused:?}"
    );
    println!("SKIPPED: {behaviour}: the store does not declare {what} (refused as Unsupported)");
    eprintln!("SKIPPED: {behaviour}: the store does not declare {what} (refused as Unsupported)");
    false
}
