//! `cachestore::open("redis://…")` from every place an application calls
//! it: a current-thread runtime (the default of `#[tokio::test]`), a
//! multi-thread one, and no runtime at all. It used to block in place, which
//! panics on a current-thread runtime and, outside a runtime, left a
//! connection whose first call failed; the store now connects at its first
//! operation, on the runtime that runs it.
#![cfg(feature = "redis")]

#[path = "../backend-redis/tests/support/mod.rs"]
mod support;

use cachestore::{Bytes, CacheStore, Error, SetOptions};

/// The shared test server's URL with a fresh prefix; `None` after a loud
/// skip (a failure when CI requires services).
fn url() -> Option<String> {
    match support::shared() {
        Ok(url) => Some(format!("{url}?prefix={}", support::unique_prefix())),
        Err(why) => {
            assert!(
                std::env::var("CACHESTORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{why}, and CACHESTORE_REQUIRE_SERVICES=1 requires a server"
            );
            println!("SKIPPED: redis open by URL: {why}");
            None
        }
    }
}

async fn round_trip(store: &dyn CacheStore) {
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    let row = store.get("ns", "k").await.expect("get").expect("the row just written");
    assert_eq!(&row.payload[..], b"v");
}

#[tokio::test]
async fn opens_by_url_on_a_current_thread_runtime() {
    let Some(url) = url() else { return };
    let store = cachestore::open(&url).expect("open on a current-thread runtime");
    round_trip(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_by_url_on_a_multi_thread_runtime() {
    let Some(url) = url() else { return };
    let store = cachestore::open(&url).expect("open on a multi-thread runtime");
    round_trip(store.as_ref()).await;
}

#[test]
fn opens_by_url_outside_a_runtime_and_works_in_the_one_that_uses_it() {
    let Some(url) = url() else { return };
    let store = cachestore::open(&url).expect("open without a runtime");
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(round_trip(store.as_ref()));
}

#[tokio::test]
async fn a_server_that_is_not_there_is_the_first_operations_typed_error() {
    let url = format!("redis://127.0.0.1:{}/?connect_timeout_ms=200", support::free_port());
    let store = cachestore::open(&url).expect("opening connects nothing yet");
    let started = std::time::Instant::now();
    let err = store.get("ns", "k").await.expect_err("no server");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retriable(), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "no hang");
}
