//! Faults with a real redis-server: down at start, killed and restarted
//! mid-run, a wrong password.

mod support;

use std::time::{Duration, Instant};

use cachestore_core::{Bytes, CacheStore, Error, SetOptions};
use cachestore_redis::RedisStore;
use support::Server;

/// A loud skip, or a failure when CI requires services.
fn require_redis() -> bool {
    support::require_server("redis fault tests")
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

/// A user without permission to write (an ACL) gets a typed error that is
/// not retriable and names the permission, never a retriable
/// `Unavailable`; reads it may do still work.
#[tokio::test]
async fn an_acl_refusal_is_a_non_retriable_config_error() {
    if !require_redis() {
        return;
    }
    let server = Server::start(&[]).expect("redis-server");
    server.cli(&[
        "ACL",
        "SETUSER",
        "reader",
        "on",
        ">readerpw",
        "~*",
        "&*",
        "+@read",
        "+@connection",
        "+zrangebylex",
        "+ping",
    ]);
    let url = server.url().replacen("redis://", "redis://reader:readerpw@", 1);
    let store = RedisStore::builder(&url)
        .response_timeout(Duration::from_secs(2))
        .open()
        .await
        .expect("a read-only user connects");
    assert_eq!(store.get("ns", "k").await.expect("reads are allowed"), None);
    let err = store
        .set("ns", "k", Bytes::from_static(b"v"), SetOptions::new())
        .await
        .expect_err("writes are not allowed");
    assert!(!err.is_retriable(), "an ACL refusal is retriable: {err:?}");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("permission"), "{err}");
}

/// A row whose stale window ends within the grace period of the latest
/// time the store can keep: either written whole and readable, or refused
/// with nothing written. Never an error with the row written anyway.
#[tokio::test]
async fn a_write_that_fails_writes_nothing_even_at_the_time_limit() {
    if !require_redis() {
        return;
    }
    let server = Server::start(&[]).expect("redis-server");
    let store = RedisStore::builder(server.url()).open().await.expect("open");
    let limit = std::time::UNIX_EPOCH + Duration::from_millis(i64::MAX as u64);
    for back in [0u64, 1, 1_000, 59_999, 60_000, 120_000] {
        let until = limit - Duration::from_millis(back);
        let key = format!("k{back}");
        let options = SetOptions::new().ttl(cachestore_core::Ttl::Until(until));
        match store.set("ns", &key, Bytes::from_static(b"v"), options).await {
            Ok(()) => {
                let row = store.get_stale("ns", &key).await.expect("read");
                assert!(row.is_some(), "{back} ms before the limit: written, then missing");
            }
            Err(e) => {
                let row = store.get_stale("ns", &key).await.expect("read");
                assert!(row.is_none(), "{back} ms before the limit: {e}, yet the row was written");
            }
        }
    }
}

/// On a cluster with one master killed, writes and reads of the slots it
/// served are the same retriable `Unavailable`, never a `Backend` error for
/// one and `Unavailable` for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cluster_master_is_unavailable_for_writes_and_reads_alike() {
    if !require_redis() {
        return;
    }
    let (mut nodes, url) = support::start_cluster().expect("a private cluster");
    let store = RedisStore::builder(&url)
        .cluster(true)
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_secs(1))
        .open()
        .await
        .expect("open");
    let namespaces: Vec<String> = (0..24).map(|i| format!("ns{i}")).collect();
    for ns in &namespaces {
        store.set(ns, "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    }
    nodes[2].kill();
    let mut failures = 0;
    // Each failing call waits out the client's retries: a few suffice.
    for ns in &namespaces {
        if failures >= 4 {
            break;
        }
        let wrote = store.set(ns, "k2", Bytes::from_static(b"v"), SetOptions::new()).await;
        let read = store.get(ns, "k").await;
        for outcome in [wrote.err(), read.err()].into_iter().flatten() {
            failures += 1;
            assert!(
                matches!(outcome, Error::Unavailable { .. }) && outcome.is_retriable(),
                "{ns}: {outcome:?}"
            );
        }
    }
    assert!(failures > 0, "no call failed with a master down: the test did not test");
}

/// `EXISTS key` through redis-cli on the server (or cluster, following
/// redirections) at `url`: whether Redis still holds the key physically.
fn exists(url: &str, key: &str) -> bool {
    let port = url.trim_end_matches('/').rsplit(':').next().expect("a port").to_owned();
    let out = std::process::Command::new("redis-cli")
        .args(["-c", "-p", &port, "EXISTS", key])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// In real time, with short windows (fresh 1 s, stale 2 s more, grace 1 s):
/// Redis keeps a row while it is stale, serves it from `get_stale`, and
/// drops it only after `stale_until` plus the grace period; never when it
/// turns stale. On a single node and on a cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_drops_a_row_after_its_stale_window_and_grace_not_before() {
    if !require_redis() {
        return;
    }
    let single = Server::start(&[]).expect("redis-server");
    let (_nodes, cluster_url) = support::start_cluster().expect("a private cluster");
    for (url, cluster) in [(single.url(), false), (cluster_url, true)] {
        let store = RedisStore::builder(&url)
            .cluster(cluster)
            .prefix("rt:")
            .expiry_grace(Duration::from_secs(1))
            .open()
            .await
            .expect("open");
        let started = Instant::now();
        let options =
            SetOptions::for_duration(Duration::from_secs(1)).stale_for(Duration::from_secs(2));
        store.set("ns", "k", Bytes::from_static(b"v"), options).await.expect("set");
        let key = "rt:{6e73}:r:k";
        let at = |ms: u64| async move {
            if let Some(wait) = Duration::from_millis(ms).checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        };
        at(1_400).await;
        assert!(store.get("ns", "k").await.expect("get").is_none(), "fresh after its TTL");
        assert!(
            store.get_stale("ns", "k").await.expect("get_stale").is_some(),
            "cluster {cluster}: the row was dropped when it turned stale"
        );
        at(3_400).await;
        assert!(store.get_stale("ns", "k").await.expect("get_stale").is_none(), "dead");
        assert!(exists(&url, key), "cluster {cluster}: dropped before the grace period ended");
        at(4_800).await;
        assert!(!exists(&url, key), "cluster {cluster}: kept after stale_until plus grace");
    }
}
