//! Tags on Redis (CONTRACT.md §9), beyond the suite: a tag's set lives as
//! long as its longest-lived row (so sets of expired rows do not pile up),
//! invalidate_tag empties it, and rows whose sets sit in other slots of a
//! cluster go too.

mod support;

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetOptions, Ttl};
use cachestore_redis::RedisStore;

fn tag_set(prefix: &str, tag: &str) -> String {
    let hex: String = tag.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{{g:{hex}}}")
}

fn pttl(url: &str, key: &str) -> i64 {
    let mut conn =
        redis::Client::open(url).and_then(|c| c.get_connection()).expect("a plain connection");
    redis::cmd("PTTL").arg(key).query(&mut conn).expect("PTTL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_set_lives_as_long_as_its_longest_row_and_goes_with_the_tag() {
    if !support::require_server("tag sets on one server") {
        return;
    }
    let url = support::shared().expect("a redis-server");
    let prefix = support::unique_prefix();
    let store = RedisStore::builder(&url).prefix(&prefix).open().await.expect("open");
    let set = tag_set(&prefix, "album:x");
    let short = SetOptions::new().ttl(Ttl::For(Duration::from_secs(60))).tag("album:x");
    store.set("a", "1", Bytes::new(), short).await.expect("set");
    let ttl = pttl(&url, &set);
    assert!(ttl > 50_000, "the set of a row kept ~60 s has PTTL {ttl}");
    let long = SetOptions::new().ttl(Ttl::For(Duration::from_secs(3_600))).tag("album:x");
    store.set("b", "2", Bytes::new(), long).await.expect("set");
    assert!(pttl(&url, &set) > 3_000_000, "the set did not follow its longest row");
    store.set("c", "3", Bytes::new(), SetOptions::new().tag("album:x")).await.expect("set");
    assert_eq!(pttl(&url, &set), -1, "a row that never expires keeps its set");
    assert_eq!(store.invalidate_tag("album:x").await.expect("invalidate"), 3);
    assert_eq!(pttl(&url, &set), -2, "the tag's set outlived its invalidation");
}

/// Two clients (two stores, two connections) on one server and on a
/// cluster: rows tagged by one are invalidated by the other, across
/// namespaces, and a row rewritten without the tag stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_written_by_one_client_is_invalidated_by_another() {
    if !support::require_server("tags across clients") {
        return;
    }
    let single = support::shared().expect("a redis-server");
    let cluster = support::cluster().expect("a 3-master cluster");
    for (url, on_cluster) in [(single, false), (cluster, true)] {
        let prefix = support::unique_prefix();
        let open = || RedisStore::builder(&url).prefix(&prefix).cluster(on_cluster).open();
        let (a, b) = (open().await.expect("client a"), open().await.expect("client b"));
        for ns in ["musicbrainz", "discogs", "lastfm"] {
            a.set(ns, "angel", Bytes::new(), SetOptions::new().tag("album:x")).await.expect("set");
        }
        a.set("lastfm", "angel", Bytes::new(), SetOptions::new()).await.expect("untag");
        assert_eq!(b.invalidate_tag("album:x").await.expect("invalidate"), 2, "{url}");
        assert!(a.get("discogs", "angel").await.expect("get").is_none());
        assert!(a.get("lastfm", "angel").await.expect("get").is_some(), "the untagged row went");
    }
}
