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

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_opens_by_url_with_options_and_is_unavailable_without_a_server() {
    // Nothing listens on this port: opening connects nothing yet, and the
    // first operation is a typed, retriable error within the connect
    // timeout given in the URL, not a hang.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let store =
        cachestore::open(&format!("redis://127.0.0.1:{port}/?connect_timeout_ms=200&prefix=t:"))
            .expect("a valid URL opens");
    let started = std::time::Instant::now();
    let err = store.get("ns", "k").await.expect_err("no server");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let err = cachestore::open("redis://127.0.0.1:1/?colour=blue")
        .map(drop)
        .expect_err("a query option redis does not know");
    assert!(!err.to_string().is_empty());
}

/// No error from `open` shows a password or token taken from the URL,
/// whatever is wrong with it (a bad option, an unknown scheme, an option the
/// facade rejects before connecting, a server that is not there).
#[test]
fn url_errors_never_show_a_password() {
    let secret = "hunter2-s3cret";
    let urls = vec![
        format!("redis://app:{secret}@127.0.0.1:1/0?cluster=maybe"),
        format!("redis://app:{secret}@127.0.0.1:1/0?connect_timeout_ms=soon"),
        format!("redis://:{secret}@127.0.0.1:1/0?unknown_thing=1"),
        format!("ftp://app:{secret}@example.invalid/x"),
        format!("redis://127.0.0.1:1/0?password={secret}&cluster=perhaps"),
        format!("redis://app:{secret}@127.0.0.1:1/0?x=%FF"),
    ];
    for url in &urls {
        let Err(err) = cachestore::open(url) else { panic!("{url} opened") };
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(secret), "{url} gave: {shown}");
        }
    }
    if cfg!(feature = "redis") {
        // Nothing listens on port 1: the first operation's connection error
        // names the server only.
        let url = format!("redis://app:{secret}@127.0.0.1:1/0?connect_timeout_ms=200");
        let store = cachestore::open(&url).expect("a valid URL opens");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let err = runtime.expect("runtime").block_on(store.get("ns", "k")).expect_err("no server");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(secret), "{url} gave: {shown}");
        }
    }
}

/// Legal-looking options at their extremes are typed errors, never panics.
#[cfg(feature = "sqlite")]
#[test]
fn extreme_option_values_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db").display().to_string();
    for url in [
        format!("sqlite://{db}?busy_timeout_ms=2592000000"),
        format!("sqlite://{db}?busy_timeout_ms=18446744073709551615"),
        format!("sqlite://{db}?max_payload=18446744073709551615"),
    ] {
        match cachestore::open(&url) {
            Err(Error::Config { .. }) => {}
            Err(e) => panic!("{url}: {e:?}"),
            Ok(_) => panic!("{url} opened"),
        }
    }
}

/// Paths with `?`, `%`, `#` and spaces open by URL through
/// `percent_encode_path`, on both file backends, and land at that path.
#[cfg(all(feature = "sqlite", feature = "redb"))]
#[tokio::test]
async fn paths_with_question_marks_and_percents_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("a ?b#c 100%");
    for (scheme, name) in [("sqlite", "x?.sqlite"), ("redb", "y%41.redb")] {
        let path = odd.join(name);
        let url = format!("{scheme}://{}", cachestore::percent_encode_path(&path));
        let store = cachestore::open(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
        drop(store);
        assert!(path.exists(), "{url} did not open {}", path.display());
        let again = cachestore::open(&format!("{url}?recreate_if_corrupt=false")).expect("reopen");
        assert!(again.get("ns", "k").await.expect("get").is_some(), "{url}");
    }
}
