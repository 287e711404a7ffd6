//! `rediss://` against a real redis-server with TLS on (a private
//! certificate authority and a server certificate made with `openssl` for
//! this test): a store that trusts the authority (`tls_ca_file=`)
//! round-trips a row; one that does not is
//! refused with a typed error and writes nothing; plain `redis://` to the
//! TLS port does not pass for TLS.
#![cfg(feature = "tls")]

mod support;

use cachestore_core::{Bytes, CacheStore, Error, SetOptions};
use cachestore_redis::RedisStoreBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_round_trips_and_an_untrusted_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((server, tls_port, ca)) = support::require_tls_server("TLS", dir.path()) else {
        return;
    };
    let prefix = support::unique_prefix();
    let url = format!("rediss://127.0.0.1:{tls_port}/0?prefix={prefix}&tls_ca_file={ca}");
    let store = RedisStoreBuilder::from_url(&url).expect("url").open().await.expect("TLS open");
    store.set("ns", "k", Bytes::from_static(b"over TLS"), SetOptions::new()).await.expect("set");
    let row = store.get("ns", "k").await.expect("get").expect("row");
    assert_eq!(&row.payload[..], b"over TLS");
    // The row is on the server (read over its plain port).
    assert_eq!(server.cli(&["EXISTS", &format!("{prefix}{{6e73}}:r:k")]).trim(), "1");

    // Without the certificate authority: the public roots do not know it.
    let untrusted =
        format!("rediss://127.0.0.1:{tls_port}/0?prefix={prefix}x&connect_timeout_ms=2000");
    let refused = RedisStoreBuilder::from_url(&untrusted).expect("url").open().await;
    assert!(
        matches!(refused, Err(Error::Unavailable { .. } | Error::Config { .. })),
        "an untrusted certificate was accepted: {refused:?}"
    );
    // Plain text to the TLS port is no TLS.
    let plain =
        format!("redis://127.0.0.1:{tls_port}/0?connect_timeout_ms=1000&response_timeout_ms=1000");
    assert!(RedisStoreBuilder::from_url(&plain).expect("url").open().await.is_err());
    let missing =
        RedisStoreBuilder::from_url("rediss://127.0.0.1:1/0?tls_ca_file=/nonexistent.pem");
    assert!(matches!(missing, Err(Error::Config { .. })), "{missing:?}");
}
