//! Faults with a real redis-server: down at start, killed and restarted
//! mid-run, a wrong password.

mod support;

use std::time::{Duration, Instant};

use cachestore_core::{Bytes, CacheStore, Error, SetOptions};
use cachestore_redis::RedisStore;
use support::Server;

/// A loud skip, or a failure when CI requires services.
fn require_redis() -> bool {
    if support::have_redis_server() {
        return true;
    }
    assert!(
        std::env::var("CACHESTORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "no redis-server on PATH, and CACHESTORE_REQUIRE_SERVICES=1 requires it"
    );
    println!("SKIPPED: redis fault tests: no redis-server on PATH");
    false
}

#[tokio::test]
async fn a_server_down_at_start_is_unavailable_within_the_timeout() {
    // Nothing listens on a fresh free port.
    let url = format!("redis://127.0.0.1:{}/", support::free_port());
    let started = Instant::now();
    let err = RedisStore::builder(&url)
        .connect_timeout(Duration::from_millis(300))
        .open()
        .await
        .expect_err("no server");
    let took = started.elapsed();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(took < Duration::from_secs(3), "took {took:?} for a 300 ms connect timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_gives_typed_errors_then_the_same_handle_recovers() {
    if !require_redis() {
        return;
    }
    let mut server = Server::start(&[]).expect("redis-server");
    let store = RedisStore::builder(server.url())
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(500))
        .open()
        .await
        .expect("open");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get("ns", "k").await.expect_err("server down");
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "an operation hung for {:?}",
            started.elapsed()
        );
    }
    server.restart().expect("restart");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.set("ns", "k2", Bytes::from_static(b"back"), SetOptions::new()).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the handle did not recover: {e}"),
        }
    }
    let row = store.get("ns", "k2").await.expect("get after recovery").expect("row");
    assert_eq!(&row.payload[..], b"back");
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_authentication_error() {
    if !require_redis() {
        return;
    }
    let server = Server::start(&["--requirepass", "s3cret"]).expect("redis-server");
    let wrong = format!("redis://:nope@127.0.0.1:{}/", server.port);
    let err = RedisStore::open(&wrong).await.expect_err("wrong password");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("credentials") && text.contains("password"), "{text}");
    assert!(!text.contains("nope"), "the password leaked into the message: {text}");
    assert!(!err.is_retriable());
    let right = format!("redis://:s3cret@127.0.0.1:{}/", server.port);
    let store = RedisStore::open(&right).await.expect("right password");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
}

#[tokio::test]
async fn physical_expiry_follows_the_store_clock_not_this_machine() {
    if !require_redis() {
        return;
    }
    let server = Server::start(&[]).expect("redis-server");
    // The store's clock is a year behind this machine: an absolute expiry
    // time (PEXPIREAT) would delete the row at once.
    let clock = cachestore_core::ManualClock::starting_at(
        std::time::SystemTime::now() - Duration::from_secs(365 * 86_400),
    );
    let store = RedisStore::builder(server.url())
        .clock(clock.clone())
        .expiry_grace(Duration::from_secs(1))
        .prefix("p:")
        .open()
        .await
        .expect("open");
    store
        .set("ns", "k", Bytes::from_static(b"v"), SetOptions::for_duration(Duration::from_secs(60)))
        .await
        .expect("set");
    assert!(store.get("ns", "k").await.expect("get").is_some(), "a live row was dropped");
    let pttl: i64 =
        server.cli(&["PTTL", &format!("p:{{{}}}:r:k", "6e73")]).trim().parse().expect("PTTL");
    assert!((59_000..=61_000).contains(&pttl), "PTTL is {pttl} ms, not stale_until - now + grace");
    // A row already dead when written is not kept.
    store
        .set("ns", "dead", Bytes::from_static(b"v"), SetOptions::for_duration(Duration::ZERO))
        .await
        .expect("set");
    assert_eq!(server.cli(&["EXISTS", "p:{6e73}:r:dead"]).trim(), "0");
}
