//! Rows in the format cachestore 0.1 wrote (row format 1: no version, the
//! checksum over the payload itself) keep reading, as version 0, and every
//! v2 operation works on them; the first write of a row rewrites it in
//! format 2. The rows are laid out here by hand exactly as format 1's
//! writer did (`write_row` before contract v2, commit 5cdf87d^).

mod support;

use std::time::Duration;

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::encoding::{checksum, encode_headers};
use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_core::{Condition, Error, Headers, TouchOptions, Ttl, WriteOutcome};
use cachestore_redis::RedisStore;

const PREFIX: &str = "old:";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Writes one format-1 row, fresh for an hour, with `headers`.
fn write_format_1(
    server: &support::Server,
    ns: &str,
    key: &str,
    payload: &[u8],
    headers: &Headers,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock");
    let times = RowTimes {
        stored_at: now,
        expires_at: Some(now + 3_600_000),
        stale_until: Some(now + 7_200_000),
    };
    let blob = encode_headers(headers);
    let mut meta = vec![1u8];
    meta.extend_from_slice(
        &checksum(ns.as_bytes(), key.as_bytes(), &times, &blob, payload).to_le_bytes(),
    );
    meta.extend_from_slice(&times.stored_at.to_le_bytes());
    meta.extend_from_slice(&blob);
    let tag = format!("{PREFIX}{{{}}}", hex(ns));
    let row = format!("{tag}:r:{key}");
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let stale = times.stale_until.map(|t| t.to_string()).unwrap_or_default();
    let expires = times.expires_at.map(|t| t.to_string()).unwrap_or_default();
    let () = redis::pipe()
        .cmd("HSET")
        .arg(&row)
        .arg("s")
        .arg(stale)
        .arg("e")
        .arg(expires)
        .arg("m")
        .arg(meta)
        .arg("p")
        .arg(payload)
        .ignore()
        .cmd("PEXPIRE")
        .arg(&row)
        .arg(7_200_000 + 60_000)
        .ignore()
        .cmd("ZADD")
        .arg(format!("{tag}:i"))
        .arg(0)
        .arg(key)
        .ignore()
        .cmd("ZADD")
        .arg(format!("{PREFIX}namespaces"))
        .arg(0)
        .arg(ns)
        .ignore()
        .query(&mut conn)
        .expect("write a format-1 row");
}

#[tokio::test]
async fn format_1_rows_read_as_version_0_and_take_every_v2_operation() {
    if !support::require_server("format-1 rows") {
        return;
    }
    let server = support::Server::start(&[]).expect("a private redis-server");
    let headers: Headers = [("etag".to_owned(), "\"v1\"".to_owned())].into();
    for key in ["a", "b", "c", "damaged"] {
        write_format_1(&server, "ns", key, format!("payload {key}").as_bytes(), &headers);
    }
    let store = RedisStore::builder(server.url()).prefix(PREFIX).open().await.expect("open");

    let a = store.get("ns", "a").await.expect("get").expect("a format-1 row reads");
    assert_eq!((&a.payload[..], a.version, &a.headers), (&b"payload a"[..], 0, &headers));

    // IfVersion(0) matches a row written before versions.
    let b = store
        .set_if("ns", "b", Bytes::from_static(b"new b"), SetOptions::new(), Condition::IfVersion(0))
        .await
        .expect("set_if");
    let WriteOutcome::Written { version } = b else {
        panic!("IfVersion(0) on a format-1 row: {b:?}")
    };
    let b = store.get("ns", "b").await.expect("get").expect("row");
    assert_eq!((&b.payload[..], b.version), (&b"new b"[..], version));

    // touch renews a format-1 row, keeps its payload and headers, and
    // leaves it in format 2.
    let touched = store
        .touch("ns", "c", TouchOptions::new(Ttl::For(Duration::from_secs(60))))
        .await
        .expect("touch")
        .expect("a live format-1 row is touched");
    let c = store.get("ns", "c").await.expect("get").expect("row");
    assert_eq!((&c.payload[..], c.version, &c.headers), (&b"payload c"[..], touched, &headers));
    let row = format!("{PREFIX}{{{}}}:r:c", hex("ns"));
    let meta = server.cli(&["--no-raw", "HGET", &row, "v"]);
    assert!(meta.contains(&touched.to_string()), "the touched row has no version field: {meta}");

    // A format-1 row whose payload changed outside cachestore is Corrupt.
    let damaged = format!("{PREFIX}{{{}}}:r:damaged", hex("ns"));
    server.cli(&["HSET", &damaged, "p", "payload damaqed"]);
    let err = store.get("ns", "damaged").await.expect_err("damaged");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}
