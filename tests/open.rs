//! `cachestore::open` on every backend compiled in, with query options.

use cachestore::{Bytes, Error, SetOptions};

#[tokio::test]
async fn memory_sqlite_and_redb_open_by_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut urls = vec!["memory://".to_owned()];
    if cfg!(feature = "sqlite") {
        urls.push(
            format!(
                "sqlite://{}?durability=full&busy_timeout_ms=500",
                dir.path().join("a b.sqlite").display()
            )
            .replace(' ', "%20"),
        );
    }
    if cfg!(feature = "redb") {
        urls.push(format!(
            "redb://{}?durability=buffered&recreate_if_corrupt=true",
            dir.path().join("c.redb").display()
        ));
    }
    for url in &urls {
        let store = cachestore::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
        assert!(store.get("ns", "k").await.expect("get").is_some(), "{url}");
        assert_eq!(store.capabilities().persistent, !url.starts_with("memory"), "{url}");
    }
    if cfg!(feature = "sqlite") {
        assert!(dir.path().join("a b.sqlite").exists(), "a percent-encoded path was not decoded");
    }
}

#[test]
fn bad_options_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db").display().to_string();
    for url in [
        format!("sqlite://{db}?durability=sometimes"),
        format!("sqlite://{db}?wal=off"),
        format!("redb://{db}?durability=full"),
        "sqlite://".to_owned(),
    ] {
        // A bad option, or a backend whose feature is off: a Config error either way.
        match cachestore::open(&url) {
            Err(Error::Config { message }) => assert!(!message.is_empty()),
            other => panic!("{url}: expected a configuration error, got {:?}", other.map(drop)),
        }
    }
}
