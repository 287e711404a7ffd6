//! The behaviours of contract v2's size bound and compaction (CONTRACT.md
//! §11). The bound's behaviours run on a store from
//! [`StoreFactory::open_bounded`]; a factory that has none prints a loud
//! `SKIPPED:` line. Compaction runs where the store declares
//! [`Capabilities::compact`](cachestore_core::Capabilities::compact);
//! elsewhere `compact` must be refused as [`Error::Unsupported`].

use cachestore_core::{
    Bytes, CacheStore, Error, Headers, ManualClock, SetItem, SetOptions, Stats, Tags, TouchOptions,
    Ttl, row_bytes,
};

use crate::StoreFactory;
use crate::support::{declares, headers, ms, ok, open, opts, put};

/// A store with the bound `max_bytes`, or `None` after a loud `SKIPPED:`
/// line when the factory has no bounded store.
pub(crate) async fn open_bounded<F: StoreFactory>(
    factory: &F,
    max_bytes: u64,
    behaviour: &str,
) -> Option<(F::Store, ManualClock)> {
    let clock = ManualClock::new();
    let opened = factory
        .open_bounded(clock.clone(), max_bytes)
        .await
        .unwrap_or_else(|e| panic!("{behaviour}: StoreFactory::open_bounded failed: {e} ({e:?})"));
    let Some(store) = opened else {
        println!("SKIPPED: {behaviour}: the factory has no store with a size bound");
        eprintln!("SKIPPED: {behaviour}: the factory has no store with a size bound");
        return None;
    };
    let caps = store.capabilities();
    assert_eq!(caps.max_bytes, Some(max_bytes), "{behaviour}: the bounded store's max_bytes");
    assert!(caps.evicts_live_rows, "{behaviour}: a bounded store must declare evicts_live_rows");
    Some((store, clock))
}

async fn stats<S: CacheStore + ?Sized>(store: &S) -> Stats {
    ok("stats", store.stats().await)
}

async fn live<S: CacheStore + ?Sized>(store: &S, ns: &str, key: &str) -> bool {
    ok("get_stale", store.get_stale(ns, key).await).is_some()
}

const NS: &str = "bound";

fn etag() -> Headers {
    headers([("etag", "\"v1\"")])
}

/// The bytes of a row of [`NS`] with the [`etag`] header and `len` bytes
/// of payload.
fn bytes_of(key: &str, len: usize) -> u64 {
    row_bytes(NS, key, &etag(), &Tags::new(), len)
}

/// With the bound passed, a write evicts dead rows first, then stale ones
/// (earliest `stale_until` first), then fresh ones (least recently stored
/// first); after every write the rows hold at most the bound, nothing goes
/// while they fit, the row just written stays, and `stats` counts every
/// eviction.
pub async fn bound_evicts_dead_then_stale_then_least_recently_stored<F: StoreFactory>(factory: &F) {
    let behaviour = "bound_evicts_dead_then_stale_then_least_recently_stored";
    let bound = 16 * 1024;
    let Some((store, clock)) = open_bounded(factory, bound, behaviour).await else { return };
    let payload = Bytes::from(vec![b'p'; 1000]);
    let write = |key: &'static str, ttl: u64, stale: u64| {
        let options = opts(ttl, stale).headers(etag());
        let (store, payload) = (&store, payload.clone());
        async move { ok("set", store.set(NS, key, payload, options).await) }
    };
    write("dead-1", 100, 0).await;
    write("dead-2", 100, 0).await;
    write("stale-late", 100, 100_000).await;
    clock.advance(ms(1));
    write("stale-early", 100, 50_000).await;
    clock.advance(ms(1_000));
    assert_eq!(stats(&store).await.dead, 2, "the two dead rows are not counted as dead");
    // The observable rows in eviction order: both dead ones come first.
    let mut order: Vec<String> = vec!["stale-early".into(), "stale-late".into()];
    let mut written = 4 * bytes_of("dead-1", 1000);
    for i in 0..64 {
        clock.advance(ms(10));
        let key = format!("fresh-{i:02}");
        let options = opts(1_000_000, 0).headers(etag());
        ok("set", store.set(NS, &key, payload.clone(), options).await);
        written += bytes_of(&key, 1000);
        order.push(key.clone());
        let s = stats(&store).await;
        let mut missing = Vec::new();
        for k in &order {
            missing.push(!live(&store, NS, k).await);
        }
        let present: u64 =
            order.iter().zip(&missing).filter(|(_, m)| !**m).map(|(k, _)| bytes_of(k, 1000)).sum();
        let context = format!("after writing {key} (rows written: {written} bytes, bound {bound})");
        assert!(present <= bound, "{context}: the live rows hold {present} bytes");
        if let Some(stored) = s.stored_bytes {
            assert!(stored <= bound, "{context}: stats.stored_bytes = {stored}");
        }
        assert!(!missing[missing.len() - 1], "{context}: the row just written was evicted");
        if written <= bound {
            assert!(
                s.dead == 2 && !missing.contains(&true) && s.evicted == 0,
                "{context}: rows were evicted while every row fits ({s:?})"
            );
        }
        if missing.contains(&true) {
            assert_eq!(s.dead, 0, "{context}: a live row was evicted before the dead rows");
        }
        if let Some(first_kept) = missing.iter().position(|m| !m) {
            let late = missing[first_kept..].iter().position(|m| *m);
            assert!(
                late.is_none(),
                "{context}: {} was evicted while {} (earlier in the eviction order) is kept: \
                 eviction order is dead, stale by stale_until, fresh by stored_at",
                order[first_kept + late.unwrap_or(0)],
                order[first_kept]
            );
        }
        let gone = missing.iter().filter(|m| **m).count() as u64 + (2 - s.dead);
        assert_eq!(s.evicted, gone, "{context}: stats.evicted against the rows gone");
        if missing[2] {
            // The first fresh row went: every phase of the order was walked.
            return;
        }
    }
    panic!("{behaviour}: 64 KiB written through a 16 KiB bound never evicted a fresh row");
}

/// A row larger than the bound is [`Error::PayloadTooLarge`] on `set`,
/// `set_many`, `set_if` and a `touch` with longer headers, writing nothing; a row of exactly the bound is
/// taken, evicting the rest; a batch larger than the bound leaves at most
/// the bound.
pub async fn bound_refuses_a_row_larger_than_itself<F: StoreFactory>(factory: &F) {
    let behaviour = "bound_refuses_a_row_larger_than_itself";
    let bound = 4096;
    let Some((store, clock)) = open_bounded(factory, bound, behaviour).await else { return };
    let exact = (bound - bytes_of("whole", 0)) as usize;
    put(&store, NS, "small", b"s", SetOptions::new().headers(etag())).await;
    clock.advance(ms(5));
    let whole = Bytes::from(vec![b'w'; exact]);
    put(&store, NS, "whole", &whole, SetOptions::new().headers(etag())).await;
    let got = ok("get", store.get(NS, "whole").await).map(|e| e.payload);
    assert_eq!(got, Some(whole), "a row of exactly the bound was not kept");
    assert!(!live(&store, NS, "small").await, "the bound holds the whole row and another");

    let over = Bytes::from(vec![b'o'; exact + 1]);
    let too_large = |what: &str, got: Result<(), Error>| match got {
        Err(Error::PayloadTooLarge { size, limit }) => {
            assert_eq!((size, limit), (bound + 1, bound), "{what}: the error's size and limit");
        }
        other => panic!("{what}: a row one byte over the bound gave {other:?}"),
    };
    let options = SetOptions::new().headers(etag());
    too_large("set", store.set(NS, "whole", over.clone(), options.clone()).await);
    let batch = vec![
        SetItem::new(NS, "fits", Bytes::from_static(b"f"), options.clone()),
        SetItem::new(NS, "whole", over.clone(), options.clone()),
    ];
    too_large("set_many", store.set_many(batch).await);
    assert!(!live(&store, NS, "fits").await, "set_many wrote a row of a refused batch");
    if store.capabilities().conditional_writes {
        let condition = cachestore_core::Condition::IfAbsent;
        let got = store.set_if(NS, "newer", over.clone(), options.clone(), condition).await;
        too_large("set_if", got.map(|_| ()));
        assert!(!live(&store, NS, "newer").await, "set_if wrote a row over the bound");
    }
    if store.capabilities().touch {
        let longer = headers([("etag", "\"v1-and-longer\"")]);
        let touch = TouchOptions::new(Ttl::Never).headers(longer);
        match store.touch(NS, "whole", touch).await {
            Err(Error::PayloadTooLarge { limit, .. }) => assert_eq!(limit, bound),
            other => panic!("a touch whose headers take the row over the bound gave {other:?}"),
        }
    }
    let got = ok("get", store.get(NS, "whole").await).map(|e| (e.payload.len(), e.headers));
    assert_eq!(got, Some((exact, etag())), "a refused write changed the row there");

    let quarter = Bytes::from(vec![b'q'; 1000]);
    let batch: Vec<SetItem> = (0..8)
        .map(|i| SetItem::new(NS, format!("q{i}"), quarter.clone(), options.clone()))
        .collect();
    ok("set_many", store.set_many(batch).await);
    let mut kept = 0;
    for i in 0..8 {
        kept += u64::from(live(&store, NS, &format!("q{i}")).await) * bytes_of("q0", 1000);
    }
    kept += u64::from(live(&store, NS, "whole").await) * bound;
    assert!(kept <= bound, "after a batch larger than the bound the rows hold {kept} bytes");
    assert!(kept > 0, "a batch larger than the bound left no row at all");
}

/// A `touch` with new headers weighs the row whole (namespace, key, new
/// headers, tags, payload): headers of the same length keep a row of
/// exactly the bound, one byte more is [`Error::PayloadTooLarge`] with the
/// row's new size, and leaves the row as it was.
pub async fn bound_weighs_a_touched_row_whole<F: StoreFactory>(factory: &F) {
    let behaviour = "bound_weighs_a_touched_row_whole";
    let bound = 4096;
    let Some((store, _clock)) = open_bounded(factory, bound, behaviour).await else { return };
    let caps = store.capabilities();
    let refused = store.touch(NS, "t", TouchOptions::new(Ttl::Never)).await;
    if !declares(caps.touch, behaviour, "touch", refused) {
        return;
    }
    let tags: Tags = if caps.tags { ["album:1".to_owned()].into() } else { Tags::new() };
    let exact = (bound - row_bytes(NS, "t", &etag(), &tags, 0)) as usize;
    let options = SetOptions::new().headers(etag()).tags(tags.clone());
    put(&store, NS, "t", &vec![b't'; exact], options).await;
    let same = headers([("etag", "\"v2\"")]);
    assert_eq!(row_bytes(NS, "t", &same, &tags, exact), bound);
    let touched = store.touch(NS, "t", TouchOptions::new(Ttl::Never).headers(same.clone())).await;
    assert!(
        matches!(touched, Ok(Some(_))),
        "a touch keeping the row at exactly the bound gave {touched:?}"
    );
    let longer = headers([("etag", "\"v10\"")]);
    let size = row_bytes(NS, "t", &longer, &tags, exact);
    assert_eq!(size, bound + 1);
    match store.touch(NS, "t", TouchOptions::new(Ttl::Never).headers(longer)).await {
        Err(Error::PayloadTooLarge { size: got, limit }) => {
            assert_eq!((got, limit), (size, bound), "the error's size and limit");
        }
        other => panic!("a touch taking the row one byte over the bound gave {other:?}"),
    }
    let got = ok("get", store.get(NS, "t").await).map(|e| (e.payload.len(), e.headers, e.tags));
    assert_eq!(got, Some((exact, same, tags)), "a refused touch changed the row");
}

/// `stats().stored_bytes` is the sum of `row_bytes` of the rows present
/// (namespace, key, headers, tags, payload), through overwrites, `touch`
/// with new headers, deletes, tag invalidation, purges and clears.
pub async fn bound_counts_every_field<F: StoreFactory>(factory: &F) {
    let behaviour = "bound_counts_every_field";
    let Some((store, clock)) = open_bounded(factory, 1 << 20, behaviour).await else { return };
    let caps = store.capabilities();
    let tags: Tags =
        if caps.tags { ["album:1".to_owned(), "artist:2".to_owned()].into() } else { Tags::new() };
    let mut rows: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    let check = |rows: &std::collections::BTreeMap<(&str, &str), u64>, s: Stats, what: &str| {
        let want: u64 = rows.values().sum();
        assert_eq!(s.stored_bytes, Some(want), "stats.stored_bytes after {what}");
    };
    check(&rows, stats(&store).await, "opening");
    let h = headers([("etag", "\"abc\""), ("content-type", "application/json")]);
    let options = opts(1_000, 0).headers(h.clone()).tags(tags.clone());
    put(&store, "api", "a", b"payload-a", options.clone()).await;
    rows.insert(("api", "a"), row_bytes("api", "a", &h, &tags, 9));
    put(&store, "other", "bb", b"", SetOptions::new()).await;
    rows.insert(("other", "bb"), row_bytes("other", "bb", &Headers::new(), &Tags::new(), 0));
    check(&rows, stats(&store).await, "two writes");
    put(&store, "api", "a", &[7; 300], SetOptions::new()).await;
    rows.insert(("api", "a"), row_bytes("api", "a", &Headers::new(), &Tags::new(), 300));
    check(&rows, stats(&store).await, "an overwrite with other fields");
    if caps.touch {
        let new = headers([("etag", "\"def-longer\"")]);
        let touched = ok(
            "touch",
            store
                .touch("api", "a", TouchOptions::new(Ttl::For(ms(1_000))).headers(new.clone()))
                .await,
        );
        assert!(touched.is_some(), "touch of a live row");
        rows.insert(("api", "a"), row_bytes("api", "a", &new, &Tags::new(), 300));
        check(&rows, stats(&store).await, "a touch with new headers");
    }
    put(&store, "api", "short", b"xy", opts(10, 0).headers(h.clone()).tags(tags.clone())).await;
    rows.insert(("api", "short"), row_bytes("api", "short", &h, &tags, 2));
    clock.advance(ms(100));
    check(&rows, stats(&store).await, "a row dying (dead rows count until purged)");
    ok("purge_expired", store.purge_expired().await);
    rows.remove(&("api", "short"));
    check(&rows, stats(&store).await, "a purge");
    if caps.tags {
        put(&store, "api", "t", b"t", SetOptions::new().tags(tags.clone())).await;
        ok("invalidate_tag", store.invalidate_tag("album:1").await);
        check(&rows, stats(&store).await, "a tagged write and its invalidation");
    }
    ok("delete", store.delete("other", "bb").await);
    rows.remove(&("other", "bb"));
    check(&rows, stats(&store).await, "a delete");
    ok("clear_all", store.clear_all().await);
    check(&Default::default(), stats(&store).await, "clear_all");
}

/// `compact` after most rows are deleted frees bytes of files (it says how
/// many, and `stats().disk_bytes` agrees), and every row left reads back
/// as it was. Without [`Capabilities::compact`](cachestore_core::Capabilities::compact)
/// it is [`Error::Unsupported`].
pub async fn compact_keeps_every_row_and_frees_space<F: StoreFactory>(factory: &F) {
    let behaviour = "compact_keeps_every_row_and_frees_space";
    let (store, _clock) = open(factory).await;
    if !declares(store.capabilities().compact, behaviour, "compact", store.compact().await) {
        return;
    }
    let payload = |i: usize| Bytes::from(vec![(i % 251) as u8; 4096]);
    for chunk in (0..2_000).collect::<Vec<_>>().chunks(200) {
        let items = chunk
            .iter()
            .map(|&i| {
                let options = SetOptions::new().headers(etag());
                SetItem::new("compact", format!("k{i:04}"), payload(i), options)
            })
            .collect();
        ok("set_many", store.set_many(items).await);
    }
    for i in (0..2_000).filter(|i| i % 10 != 0) {
        ok("delete", store.delete("compact", &format!("k{i:04}")).await);
    }
    let before = stats(&store).await;
    let freed = ok("compact", store.compact().await);
    let after = stats(&store).await;
    assert_eq!((after.fresh, after.payload_bytes), (before.fresh, before.payload_bytes));
    if let (Some(b), Some(a)) = (before.disk_bytes, after.disk_bytes) {
        assert!(
            a < b && freed > 0,
            "compact freed {freed} bytes, but the files went from {b} to {a} bytes after 90% of \
             8 MiB of rows were deleted"
        );
        assert!(
            freed <= b - a + 64 * 1024,
            "compact says {freed} bytes freed, the files {b} → {a}"
        );
    }
    for i in (0..2_000).filter(|i| i % 10 == 0) {
        let got = ok("get", store.get("compact", &format!("k{i:04}")).await);
        let got = got.unwrap_or_else(|| panic!("row k{i:04} is gone after compact"));
        assert_eq!((got.payload, got.headers), (payload(i), etag()), "row k{i:04} after compact");
    }
    let again = ok("compact again", store.compact().await);
    let last = stats(&store).await;
    assert_eq!(last.fresh, before.fresh, "a second compact (it freed {again} bytes) lost rows");
}
