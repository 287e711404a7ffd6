//! `set_many` is all or nothing when the engine fails midway (the store
//! declares `atomic_batch`): a fault planted inside SQLite (a trigger that
//! aborts the insert of one row in the middle of a batch) leaves no row of
//! the batch written and every earlier row as it was, alone and when the
//! batch shares a group commit with other writers' batches.

use std::sync::Arc;

use cachestore_core::{Bytes, CacheStore, Error, SetItem, SetOptions};
use cachestore_sqlite::SqliteStore;

/// Makes SQLite abort the insert or update of the row keyed `poison`.
fn plant_fault(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    for event in ["INSERT", "UPDATE"] {
        conn.execute_batch(&format!(
            "CREATE TRIGGER poison_{event} BEFORE {event} ON cache_rows \
             WHEN NEW.key = CAST('poison' AS BLOB) \
             BEGIN SELECT RAISE(ABORT, 'planted fault'); END;"
        ))
        .expect("trigger");
    }
}

fn batch(prefix: &str, version: &str) -> Vec<SetItem> {
    ["a", "b", "poison", "c"]
        .iter()
        .map(|k| {
            let key = if *k == "poison" { "poison".to_owned() } else { format!("{prefix}{k}") };
            SetItem::new("ns", key, Bytes::from(version.to_owned()), SetOptions::new())
        })
        .collect()
}

async fn payload(store: &SqliteStore, key: &str) -> Option<String> {
    let row = store.get("ns", key).await.expect("get")?;
    Some(String::from_utf8(row.payload.to_vec()).expect("utf-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_fails_midway_in_the_engine_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.sqlite");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    assert!(store.capabilities().atomic_batch);
    // Old values of two of the batch's rows.
    for key in ["xa", "xb"] {
        store.set("ns", key, Bytes::from_static(b"old"), SetOptions::new()).await.expect("set");
    }
    plant_fault(&path);
    // Alone.
    let err = store.set_many(batch("x", "new")).await.expect_err("the planted fault");
    assert!(!matches!(err, Error::InvalidKey { .. }), "failed in the engine: {err}");
    assert_eq!(payload(&store, "xa").await.as_deref(), Some("old"), "xa was overwritten");
    assert_eq!(payload(&store, "xb").await.as_deref(), Some("old"), "xb was overwritten");
    assert_eq!(payload(&store, "xc").await, None, "xc, after the fault, was written");
    // Grouped with other writers: their batches commit, this one does not.
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let items = if t == 7 {
                batch("g", "new")
            } else {
                vec![SetItem::new(
                    "ns",
                    format!("ok{t}"),
                    Bytes::from_static(b"v"),
                    SetOptions::new(),
                )]
            };
            (t, store.set_many(items).await)
        }));
    }
    for task in tasks {
        let (t, result) = task.await.expect("task");
        assert_eq!(result.is_err(), t == 7, "writer {t}: {result:?}");
    }
    for key in ["ga", "gb", "gc"] {
        assert_eq!(payload(&store, key).await, None, "{key} of the failed batch was written");
    }
    for t in (0..16).filter(|&t| t != 7) {
        assert!(payload(&store, &format!("ok{t}")).await.is_some(), "writer {t}'s row is missing");
    }
}

/// Tags across handles on one file (each its own connections, as separate
/// processes have): rows tagged through one are found by `invalidate_tag`
/// through the other, and a rewrite without tags through one takes the
/// row out of the tag for the other (the index is kept by triggers in the
/// file, not by the process that wrote).
#[tokio::test]
async fn tags_are_shared_by_every_handle_on_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tags.sqlite");
    let a = SqliteStore::open(&path).expect("open a");
    let b = SqliteStore::open(&path).expect("open b");
    for (ns, key) in [("mb", "1"), ("dg", "1"), ("dg", "2")] {
        a.set(ns, key, Bytes::new(), SetOptions::new().tag("album:x")).await.expect("set");
    }
    a.set("dg", "2", Bytes::new(), SetOptions::new()).await.expect("untag");
    assert_eq!(b.invalidate_tag("album:x").await.expect("invalidate"), 2);
    assert!(a.get("mb", "1").await.expect("get").is_none());
    assert!(a.get("dg", "2").await.expect("get").is_some(), "the untagged row went");
    assert_eq!(a.invalidate_tag("album:x").await.expect("invalidate"), 0);
}
