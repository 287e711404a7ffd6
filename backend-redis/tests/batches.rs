//! `purge_expired`, `clear_*` and `stats` read a namespace's index in
//! batches of 500 members, each its own short server call, so that no one
//! call holds the server for the whole namespace (one script over 1M rows
//! outlived the 5 s response timeout). Checked on a private server: the
//! answers are right across batch boundaries, and each operation made
//! several calls (counted by `INFO commandstats`).

mod support;

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, ManualClock, SetItem, SetOptions, Ttl};
use cachestore_redis::RedisStore;

fn calls(server: &support::Server, command: &str) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]);
    info.lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_clear_and_stats_work_in_batches() {
    if !support::require_server("index batches") {
        return;
    }
    let server = support::Server::start(&[]).expect("a private redis-server");
    let clock = ManualClock::new();
    let store = RedisStore::builder(server.url())
        .prefix(support::unique_prefix())
        .clock(clock.clone())
        .open()
        .await
        .expect("open");
    // 1,201 rows: every other one dies after a second, the rest live an hour.
    let items = (0..1201).map(|i| {
        let ttl = if i % 2 == 0 { Duration::from_secs(1) } else { Duration::from_secs(3600) };
        SetItem::new("big", format!("k{i:05}"), Bytes::new(), SetOptions::new().ttl(Ttl::For(ttl)))
    });
    store.set_many(items.collect()).await.expect("fill");
    clock.advance(Duration::from_secs(2));

    let before = calls(&server, "zrangebylex");
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.fresh, stats.dead), (600, 601), "{stats:?}");
    assert!(calls(&server, "zrangebylex") - before >= 3, "stats read the index in one call");

    let before = (calls(&server, "evalsha"), calls(&server, "eval"));
    assert_eq!(store.purge_expired().await.expect("purge"), 601);
    let scripts = calls(&server, "evalsha") + calls(&server, "eval") - before.0 - before.1;
    assert!(scripts >= 3, "the purge of 1,201 rows ran {scripts} script calls");
    assert_eq!(store.purge_expired().await.expect("purge again"), 0);

    assert_eq!(store.clear_namespace("big").await.expect("clear"), 600);
    assert_eq!(store.stats().await.expect("stats").fresh, 0);
}
