//! The behaviours of contract v2's tags (CONTRACT.md §9). Each runs where
//! the store declares [`Capabilities::tags`](cachestore_core::Capabilities::tags);
//! elsewhere it checks that tagged writes and `invalidate_tag` are refused
//! with [`Error::Unsupported`] and prints a loud `SKIPPED:` line.

use std::sync::Arc;

use cachestore_core::{
    Bytes, CacheStore, Condition, Error, Headers, SetItem, SetOptions, Tags, TouchOptions, Ttl,
};

use crate::StoreFactory;
use crate::support::{declares, ms, ok, open, opts, put};

/// Whether the store declares tags; if not, checks that both a tagged write
/// and `invalidate_tag` are refused as [`Error::Unsupported`] (and that the
/// refused write wrote nothing), and says loudly that `behaviour` was
/// skipped.
async fn declares_tags<S: CacheStore + ?Sized>(store: &S, behaviour: &str) -> bool {
    if store.capabilities().tags {
        return true;
    }
    let write = store.set("ns", "tagged", Bytes::new(), SetOptions::new().tag("t")).await;
    assert!(
        matches!(write, Err(Error::Unsupported { .. })),
        "{behaviour}: the store does not declare tags, yet a tagged write was not refused: \
         {write:?}"
    );
    assert_eq!(
        ok("get_stale", store.get_stale("ns", "tagged").await),
        None,
        "{behaviour}: a refused tagged write wrote its row (its tags dropped)"
    );
    declares(false, behaviour, "tags", store.invalidate_tag("t").await)
}

fn tags(list: &[&str]) -> Tags {
    list.iter().map(|t| (*t).to_owned()).collect()
}

async fn tags_of<S: CacheStore + ?Sized>(store: &S, ns: &str, key: &str) -> Option<Tags> {
    ok("get_stale", store.get_stale(ns, key).await).map(|e| e.tags)
}

async fn live<S: CacheStore + ?Sized>(store: &S, ns: &str, key: &str) -> bool {
    ok("get_stale", store.get_stale(ns, key).await).is_some()
}

/// Tags are stored with the row and returned in `Entry`; `invalidate_tag`
/// removes every row carrying the tag in every namespace, counts the live
/// ones, and leaves every other row (other tags, a tag that is a prefix of
/// another, untagged rows) alone. Running it again finds nothing.
pub async fn tags_round_trip_and_invalidate_across_namespaces<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    if !declares_tags(&store, "tags_round_trip_and_invalidate_across_namespaces").await {
        return;
    }
    let album = "album:radiohead/ok computer";
    put(&store, "musicbrainz", "r1", b"mb", SetOptions::new().tag(album).tag("artist:radiohead"))
        .await;
    put(&store, "discogs", "r1", b"dg", opts(10_000, 0).tag(album)).await;
    put(&store, "lastfm", "x", b"lf", SetOptions::new().tags([album, "source:lastfm"])).await;
    put(&store, "lastfm", "other", b"o", SetOptions::new().tag("album:radiohead/ok")).await;
    let longer = format!("{album} (deluxe)");
    put(&store, "lastfm", "longer", b"l", SetOptions::new().tag(longer)).await;
    put(&store, "musicbrainz", "plain", b"p", SetOptions::new()).await;
    put(&store, "discogs", "kid a", b"k", SetOptions::new().tag("artist:radiohead")).await;
    assert_eq!(
        tags_of(&store, "musicbrainz", "r1").await,
        Some(tags(&[album, "artist:radiohead"])),
        "the tags written do not come back"
    );
    assert_eq!(tags_of(&store, "musicbrainz", "plain").await, Some(Tags::new()));
    let got = ok("get", store.get("lastfm", "x").await).map(|e| e.tags);
    assert_eq!(got, Some(tags(&[album, "source:lastfm"])), "get returns other tags than get_stale");

    assert_eq!(ok("invalidate_tag", store.invalidate_tag(album).await), 3, "rows removed");
    for (ns, key) in [("musicbrainz", "r1"), ("discogs", "r1"), ("lastfm", "x")] {
        assert!(!live(&store, ns, key).await, "({ns}, {key}) carried the tag and is still there");
        assert_eq!(ok("get", store.get(ns, key).await), None);
    }
    let kept =
        [("lastfm", "other"), ("lastfm", "longer"), ("musicbrainz", "plain"), ("discogs", "kid a")];
    for (ns, key) in kept {
        assert!(live(&store, ns, key).await, "({ns}, {key}) did not carry the tag, yet went");
    }
    let mut scanned = Vec::new();
    let mut after = None;
    loop {
        let page = ok("scan", store.scan(None, after.as_ref(), 2).await);
        scanned.extend(page.items.iter().map(|i| (i.namespace.clone(), i.key.clone())));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(scanned.len(), 4, "scan after the invalidation: {scanned:?}");
    assert_eq!(ok("invalidate_tag again", store.invalidate_tag(album).await), 0);
    assert_eq!(ok("invalidate_tag of nothing", store.invalidate_tag("never used").await), 0);
    // The row's other tag still works, on the row left with it.
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("artist:radiohead").await), 1);
    assert!(!live(&store, "discogs", "kid a").await);
    let stats = ok("stats", store.stats().await);
    if stats.exact {
        assert_eq!(stats.fresh, 3, "stats after invalidations: {stats:?}");
    }
}

/// `invalidate_tag` removes a tagged row in any phase but counts only the
/// fresh and stale ones; a dead row it removed stays removed when the clock
/// goes back (it does not come back to life as a stale row).
pub async fn invalidate_tag_counts_only_live_rows<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    if !declares_tags(&store, "invalidate_tag_counts_only_live_rows").await {
        return;
    }
    put(&store, "ns", "fresh", b"f", opts(1_000, 0).tag("t")).await;
    put(&store, "ns", "stale", b"s", opts(100, 10_000).tag("t")).await;
    put(&store, "ns", "dead", b"d", opts(100, 0).tag("t")).await;
    clock.advance(ms(500));
    assert!(!live(&store, "ns", "dead").await);
    let self_expiring = store.capabilities().self_expiring;
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("t").await), 2, "fresh + stale");
    clock.rewind(ms(500));
    for key in ["fresh", "stale"] {
        assert!(!live(&store, "ns", key).await, "{key} came back");
    }
    if !self_expiring {
        assert!(!live(&store, "ns", "dead").await, "the dead tagged row was not removed");
    }
}

/// A rewrite replaces the row's tags (an overwrite without them leaves the
/// row untagged); `set_if` and `set_many` write tags; `touch` keeps them;
/// a deleted tagged row written again without tags is not the tag's.
pub async fn writes_replace_tags_and_touch_keeps_them<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    if !declares_tags(&store, "writes_replace_tags_and_touch_keeps_them").await {
        return;
    }
    put(&store, "ns", "moved", b"1", SetOptions::new().tag("old")).await;
    put(&store, "ns", "moved", b"2", SetOptions::new().tag("new")).await;
    put(&store, "ns", "dropped", b"1", SetOptions::new().tag("old")).await;
    put(&store, "ns", "dropped", b"2", SetOptions::new()).await;
    put(&store, "ns", "deleted", b"1", SetOptions::new().tag("old")).await;
    ok("delete", store.delete("ns", "deleted").await);
    put(&store, "ns", "deleted", b"2", SetOptions::new()).await;
    assert_eq!(tags_of(&store, "ns", "moved").await, Some(tags(&["new"])));
    assert_eq!(tags_of(&store, "ns", "dropped").await, Some(Tags::new()), "old tags kept");
    assert_eq!(ok("invalidate old", store.invalidate_tag("old").await), 0);
    for key in ["moved", "dropped", "deleted"] {
        assert!(live(&store, "ns", key).await, "{key} no longer carried the tag, yet went");
    }
    let items = vec![
        SetItem::new("a", "m1", Bytes::new(), SetOptions::new().tag("batch")),
        SetItem::new("b", "m2", Bytes::new(), SetOptions::new().tag("batch").tag("b")),
    ];
    ok("set_many", store.set_many(items).await);
    if store.capabilities().conditional_writes {
        let w = store
            .set_if("c", "m3", Bytes::new(), SetOptions::new().tag("batch"), Condition::IfAbsent)
            .await;
        assert!(ok("set_if", w).is_written());
        assert_eq!(tags_of(&store, "c", "m3").await, Some(tags(&["batch"])));
    }
    if store.capabilities().touch {
        let touched = ok(
            "touch",
            store
                .touch("b", "m2", TouchOptions::new(Ttl::For(ms(60_000))).headers(Headers::new()))
                .await,
        );
        assert!(touched.is_some());
        assert_eq!(tags_of(&store, "b", "m2").await, Some(tags(&["b", "batch"])), "touch");
    }
    let expected = 2 + u64::from(store.capabilities().conditional_writes);
    assert_eq!(ok("invalidate batch", store.invalidate_tag("batch").await), expected);
    for (ns, key) in [("a", "m1"), ("b", "m2"), ("c", "m3")] {
        assert!(!live(&store, ns, key).await, "({ns}, {key}) carried the tag");
    }
    assert_eq!(ok("invalidate new", store.invalidate_tag("new").await), 1);
}

/// At most 16 tags of 1..=255 bytes: more, an empty one or a longer one is
/// [`Error::InvalidTags`] with nothing written (the old row intact), from
/// `set`, `set_many` and `set_if`; `invalidate_tag` refuses the same tags.
/// 16 tags of 255 bytes, NUL and non-ASCII included, round-trip.
pub async fn invalid_tags_are_refused_and_limits_round_trip<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    if !declares_tags(&store, "invalid_tags_are_refused_and_limits_round_trip").await {
        return;
    }
    put(&store, "ns", "k", b"old", SetOptions::new().tag("kept")).await;
    let seventeen: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let bad = [
        SetOptions::new().tags(seventeen),
        SetOptions::new().tag(""),
        SetOptions::new().tag("é".repeat(128)),
    ];
    let refused = |r: &Result<(), Error>| matches!(r, Err(Error::InvalidTags { .. }));
    for options in bad {
        let r = store.set("ns", "k", Bytes::from_static(b"new"), options.clone()).await;
        assert!(refused(&r), "set with {} tags: {r:?}", options.tags.len());
        let item = vec![
            SetItem::new("ns", "fine", Bytes::new(), SetOptions::new()),
            SetItem::new("ns", "k", Bytes::new(), options.clone()),
        ];
        let r = store.set_many(item).await;
        assert!(refused(&r), "set_many: {r:?}");
        if store.capabilities().conditional_writes {
            let r = store
                .set_if("ns", "k", Bytes::new(), options, Condition::IfVersion(0))
                .await
                .map(|_| ());
            assert!(refused(&r), "set_if: {r:?}");
        }
    }
    let row = ok("get", store.get("ns", "k").await).expect("the old row");
    assert_eq!((&row.payload[..], row.tags), (&b"old"[..], tags(&["kept"])), "a refusal wrote");
    assert!(!live(&store, "ns", "fine").await, "set_many wrote part of a refused batch");
    for tag in [String::new(), "x".repeat(256)] {
        let r = store.invalidate_tag(&tag).await.map(|_| ());
        assert!(refused(&r), "invalidate_tag of {} bytes: {r:?}", tag.len());
    }
    let longest: Tags = (0..16u8)
        .map(|i| {
            let mut t = format!("{i:02}\0é");
            while t.len() < 255 {
                t.push('x');
            }
            t
        })
        .collect();
    put(&store, "ns", "big", b"", SetOptions::new().tags(longest.clone())).await;
    assert_eq!(tags_of(&store, "ns", "big").await, Some(longest.clone()));
    let one = longest.iter().next_back().map(String::as_str).unwrap_or_default();
    assert_eq!(ok("invalidate_tag", store.invalidate_tag(one).await), 1);
}

/// Rows written with a tag by tasks racing one `invalidate_tag`: every row
/// whose write returned before the call started is gone after it returns;
/// the count equals the rows that went; nothing else is touched.
pub async fn invalidate_tag_races_with_tagged_writes<F: StoreFactory>(factory: &F) {
    let (store, _clock) = open(factory).await;
    if !declares_tags(&store, "invalidate_tag_races_with_tagged_writes").await {
        return;
    }
    let store = Arc::new(store);
    for i in 0..50 {
        put(&*store, "before", &i.to_string(), b"b", SetOptions::new().tag("race")).await;
    }
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for i in 0..50 {
                let options = SetOptions::new().tag("race");
                ok("set", store.set("during", &i.to_string(), Bytes::new(), options).await);
                ok(
                    "set",
                    store.set("untagged", &i.to_string(), Bytes::new(), SetOptions::new()).await,
                );
            }
        })
    };
    let removed = ok("invalidate_tag", store.invalidate_tag("race").await);
    for i in 0..50 {
        assert!(!live(&*store, "before", &i.to_string()).await, "a row written before survived");
    }
    ok("writer", writer.await.map_err(|e| Error::backend("test", "joining", e)));
    let mut survivors = 0;
    for i in 0..50 {
        survivors += u64::from(live(&*store, "during", &i.to_string()).await);
        assert!(live(&*store, "untagged", &i.to_string()).await, "an untagged row went");
    }
    assert_eq!(removed, 50 + (50 - survivors), "the count is not the rows that went");
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("race").await), survivors);
}

/// Tags, and what `invalidate_tag` removed, survive a reopen (persistent
/// stores only; the others skip it quietly, as they do every reopen).
pub async fn tags_survive_reopen<F: StoreFactory>(factory: &F) {
    let (store, clock) = open(factory).await;
    if !store.capabilities().persistent || !declares_tags(&store, "tags_survive_reopen").await {
        return;
    }
    put(&store, "a", "1", b"1", SetOptions::new().tag("x").tag("y")).await;
    put(&store, "b", "2", b"2", SetOptions::new().tag("y")).await;
    put(&store, "c", "3", b"3", SetOptions::new().tag("z")).await;
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("z").await), 1);
    let store = ok("reopen", factory.reopen(store, clock).await);
    assert_eq!(tags_of(&store, "a", "1").await, Some(tags(&["x", "y"])));
    assert!(!live(&store, "c", "3").await, "an invalidated row came back after a reopen");
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("y").await), 2, "the index after reopen");
    assert_eq!(ok("invalidate_tag", store.invalidate_tag("x").await), 0);
}
