//! URL options take effect: each is observed doing what it says (a limit
//! that refuses, a bound that evicts, a timeout that waits that long and no
//! longer, a durability that decides the log, a recreate that moves a
//! damaged file aside, a prefix on the keys, a grace on Redis's expiry), not
//! only parsed. Times are checked against generous bounds, in the direction
//! a misread unit would break (milliseconds read as seconds wait 1,000×).

use std::time::{Duration, Instant};

use cachestore::{Bytes, CacheStore, Error, SetOptions};

const MIB16: usize = 16 * 1024 * 1024;

async fn refuses_over(store: &dyn CacheStore, limit: usize) {
    let at = Bytes::from(vec![1u8; limit]);
    store.set("ns", "at", at, SetOptions::new()).await.expect("a payload at the limit");
    let over = Bytes::from(vec![1u8; limit + 1]);
    let err = store.set("ns", "over", over, SetOptions::new()).await.expect_err("over the limit");
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn max_payload_bounds_every_file_and_memory_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut urls = vec!["memory://".to_owned()];
    if cfg!(feature = "sqlite") {
        urls.push(format!("sqlite://{}", dir.path().join("a.sqlite").display()));
    }
    if cfg!(feature = "redb") {
        urls.push(format!("redb://{}", dir.path().join("a.redb").display()));
    }
    for url in urls {
        let sep = if url.contains('?') { '&' } else { '?' };
        let bounded = cachestore::open(&format!("{url}{sep}max_payload={MIB16}")).expect("open");
        assert_eq!(bounded.capabilities().max_payload, MIB16 as u64, "{url}");
        refuses_over(bounded.as_ref(), MIB16).await;
        drop(bounded);
        // Without the option the default (64 MiB) takes the same payload.
        let default = cachestore::open(&url).expect("reopen");
        let over = Bytes::from(vec![1u8; MIB16 + 1]);
        default.set("ns", "over", over, SetOptions::new()).await.expect("under the default");
    }
}

#[tokio::test]
async fn capacity_bytes_bounds_the_memory_store() {
    let store = cachestore::open("memory://?capacity_bytes=1048576").expect("open");
    assert!(store.capabilities().evicts_live_rows);
    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    for i in 0..200 {
        store.set("ns", &format!("k{i}"), payload.clone(), SetOptions::new()).await.expect("set");
    }
    // moka evicts as it does its housekeeping, which reads and writes set
    // off: read until it has (a bounded number of rounds, no timing).
    let mut fresh = u64::MAX;
    for _ in 0..50 {
        for i in 0..200 {
            store.get("ns", &format!("k{i}")).await.expect("get");
        }
        fresh = store.stats().await.expect("stats").fresh;
        if fresh < 100 {
            break;
        }
    }
    assert!(fresh < 100, "{fresh} of 200 rows of 64 KiB kept under a 1 MiB bound");
}

#[tokio::test]
async fn max_bytes_bounds_the_file_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut urls = Vec::new();
    if cfg!(feature = "sqlite") {
        urls.push(format!("sqlite://{}", dir.path().join("b.sqlite").display()));
    }
    if cfg!(feature = "redb") {
        urls.push(format!("redb://{}", dir.path().join("b.redb").display()));
    }
    for url in urls {
        let store = cachestore::open(&format!("{url}?max_bytes=65536")).expect("open");
        assert_eq!(store.capabilities().max_bytes, Some(65536), "{url}");
        let payload = Bytes::from(vec![7u8; 1024]);
        for i in 0..200 {
            let key = format!("k{i:03}");
            store.set("ns", &key, payload.clone(), SetOptions::new()).await.expect("set");
        }
        let stats = store.stats().await.expect("stats");
        assert!(stats.stored_bytes.is_some_and(|b| b <= 65536), "{url}: {stats:?}");
        assert!(stats.fresh < 100 && stats.evicted == 200 - stats.fresh, "{url}: {stats:?}");
        assert!(store.get("ns", "k199").await.expect("get").is_some(), "{url}: newest gone");
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_timeout_ms_waits_that_long_for_another_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.sqlite");
    let url = |ms: u64| format!("sqlite://{}?busy_timeout_ms={ms}", path.display());
    let store = cachestore::open(&url(300)).expect("open");
    // Another program holds the write lock.
    let holder = rusqlite_lock(&path);
    let started = Instant::now();
    // On a task of its own: a write that waits in SQLite holds its thread,
    // and the deadline must still fire on the other one.
    let writer = std::sync::Arc::clone(&store);
    let write = tokio::spawn(async move {
        writer.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await
    });
    let result = tokio::time::timeout(Duration::from_secs(20), write).await;
    let waited = started.elapsed();
    let err = result.expect("gave up within 20 s").expect("task").expect_err("the lock is held");
    assert!(waited >= Duration::from_millis(250), "gave up after {waited:?}, not ~300 ms: {err}");
    assert!(matches!(err, Error::InUse { .. }) && err.is_retriable(), "{err:?}");
    // A longer timeout outlasts a lock released after 500 ms.
    drop(holder);
    let store = cachestore::open(&url(10_000)).expect("open");
    let holder = rusqlite_lock(&path);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(holder);
    });
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("waited");
    release.join().expect("release");
}

/// A raw connection holding SQLite's write lock until it is dropped.
#[cfg(feature = "sqlite")]
fn rusqlite_lock(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    conn
}

#[cfg(feature = "redb")]
#[tokio::test]
async fn redb_durability_decides_whether_writes_go_through_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (durability, logged) in [("immediate", true), ("buffered", false)] {
        let path = dir.path().join(format!("{durability}.redb"));
        let url = format!("redb://{}?durability={durability}", path.display());
        let store = cachestore::open(&url).expect("open");
        let log = |p: &std::path::Path| {
            let mut s = p.as_os_str().to_owned();
            s.push("-wal");
            std::fs::metadata(std::path::PathBuf::from(s)).map_or(0, |m| m.len())
        };
        let before = log(&path);
        store.set("ns", "k", Bytes::from(vec![3u8; 4096]), SetOptions::new()).await.expect("set");
        let grew = log(&path) > before + 4096;
        assert_eq!(grew, logged, "{durability}: the log grew by {} bytes", log(&path) - before);
    }
}

#[tokio::test]
async fn recreate_if_corrupt_moves_a_damaged_file_aside_and_only_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    if cfg!(feature = "sqlite") {
        files.push(("sqlite", dir.path().join("d.sqlite")));
    }
    if cfg!(feature = "redb") {
        files.push(("redb", dir.path().join("d.redb")));
    }
    for (scheme, path) in files {
        std::fs::write(&path, vec![0xA5u8; 64 * 1024]).expect("a damaged file");
        let url = format!("{scheme}://{}", path.display());
        let err = cachestore::open(&url).map(drop).expect_err("damaged");
        assert!(matches!(err, Error::Corrupt { .. }), "{scheme}: {err:?}");
        let store =
            cachestore::open(&format!("{url}?recreate_if_corrupt=true")).expect("recreated");
        store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
        let moved: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("d.{scheme}")))
            .collect();
        assert!(!moved.is_empty(), "{scheme}: nothing was moved aside");
        let kept = std::fs::read(moved[0].path()).expect("read");
        assert!(kept.starts_with(&[0xA5; 1024]), "{scheme}: the damaged bytes were not kept");
    }
}

#[cfg(feature = "redis")]
#[path = "../backend-redis/tests/support/mod.rs"]
mod support;

#[cfg(feature = "redis")]
mod redis {
    use std::time::{Duration, Instant};

    use cachestore::{Bytes, Error, SetOptions};

    use crate::support;

    fn server() -> Option<support::Server> {
        support::require_server("Redis URL options")
            .then(|| support::Server::start(&[]).expect("a private redis-server"))
    }

    #[tokio::test]
    async fn prefix_and_expiry_grace_shape_the_keys_redis_holds() {
        let Some(server) = server() else { return };
        let url = format!("{}?prefix=opt-test:&expiry_grace_ms=5000", server.url());
        let store = cachestore::open(&url).expect("open");
        let options = SetOptions::for_duration(Duration::from_secs(10));
        store.set("ns", "k", Bytes::from_static(b"v"), options).await.expect("set");
        let keys = server.cli(&["--scan", "--pattern", "*"]);
        let rows: Vec<&str> = keys.lines().filter(|k| k.contains(":r:")).collect();
        assert_eq!(rows.len(), 1, "one row key: {keys}");
        assert!(
            keys.lines().all(|k| k.starts_with("opt-test:")),
            "keys without the prefix: {keys}"
        );
        // Redis drops the row 10 s (fresh, no stale window) + 5 s (grace)
        // after it was written: its PTTL is just under 15 s.
        let pttl: i64 = server.cli(&["PTTL", rows[0]]).trim().parse().expect("a PTTL");
        assert!((13_000..=15_000).contains(&pttl), "PTTL {pttl} ms, not ~15,000");
    }

    #[tokio::test]
    async fn response_timeout_ms_gives_up_on_a_server_that_does_not_answer() {
        let Some(server) = server() else { return };
        let url = format!("{}?response_timeout_ms=300", server.url());
        let store = cachestore::open(&url).expect("open");
        store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
        // The server holds every client's commands for 3 s.
        server.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
        let started = Instant::now();
        let err = store.get("ns", "k").await.expect_err("no answer within 300 ms");
        let waited = started.elapsed();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(waited < Duration::from_millis(2_500), "waited {waited:?}, not ~300 ms");
        assert!(waited >= Duration::from_millis(250), "gave up after {waited:?}");
    }
}
