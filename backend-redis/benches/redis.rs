//! cachestore-redis against the raw redis crate issuing the same commands,
//! in one run, on a private redis-server on loopback (or `REDIS_URL`).
//!
//! Raw sends what the store sends: `HMGET` for a get; for a set one
//! MULTI/EXEC of `DEL`, `HSET`, `PEXPIRE`, `ZADD` plus the namespace
//! registration; the ×100 forms pipelined. So the ratio is the store's own
//! cost: encoding, checksums, validation, phase checks. 1 KiB payloads.
//!
//! Run: `cargo bench -p cachestore-redis --bench redis`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions};
use cachestore_redis::RedisStore;
use cachestore_test_harness::bench::StoreSide;
use criterion::{BatchSize, Criterion};
use redis::aio::ConnectionManager;

const PAYLOAD: usize = 1024;

/// The reply to `HMGET row s e m p`.
type Fields = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

fn raw_set(pipe: &mut redis::Pipeline, i: u64, payload: &[u8]) {
    let row = format!("raw:{{62656e6368}}:r:k{i}");
    pipe.cmd("DEL").arg(&row).ignore();
    pipe.cmd("HSET")
        .arg(&row)
        .arg("s")
        .arg("1")
        .arg("e")
        .arg("1")
        .arg("m")
        .arg(&payload[..16])
        .arg("p")
        .arg(payload)
        .ignore();
    pipe.cmd("PEXPIRE").arg(&row).arg(3_600_000).ignore();
    pipe.cmd("ZADD").arg("raw:{62656e6368}:i").arg(0).arg(format!("k{i}")).ignore();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let _server;
    let url = match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let server = support::Server::start(&[])
                .expect("a private redis-server (is redis-server on PATH?)");
            let url = server.url();
            _server = server;
            url
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = rt.block_on(RedisStore::builder(&url).prefix("bench:").open()).expect("store");
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut raw: ConnectionManager =
        rt.block_on(ConnectionManager::new(client)).expect("raw connection");
    let payload = Bytes::from(vec![0x5au8; PAYLOAD]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    rt.block_on(async {
        let items = (0..1000)
            .map(|i| SetItem::new("bench", format!("k{i}"), payload.clone(), options.clone()));
        store.set_many(items.collect()).await.expect("fill");
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            raw_set(&mut pipe, i, &payload);
        }
        let () = pipe.query_async(&mut raw).await.expect("raw fill");
    });
    let mut i = 0u64;
    let mut next = || {
        i = (i + 7) % 1000;
        i
    };

    let mut g = c.benchmark_group("redis_get");
    g.bench_function("store", |b| {
        b.iter(|| {
            assert!(
                rt.block_on(store.get("bench", &format!("k{}", next()))).expect("get").is_some()
            )
        })
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let (s, e, m, p): Fields = rt
                .block_on(
                    redis::cmd("HMGET")
                        .arg(format!("raw:{{62656e6368}}:r:k{}", next()))
                        .arg("s")
                        .arg("e")
                        .arg("m")
                        .arg("p")
                        .query_async(&mut raw),
                )
                .expect("hmget");
            assert!(s.is_some() && e.is_some() && m.is_some() && p.is_some());
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redis_set");
    g.bench_function("store", |b| {
        b.iter(|| {
            rt.block_on(store.set(
                "bench",
                &format!("k{}", next()),
                payload.clone(),
                options.clone(),
            ))
            .expect("set")
        })
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            rt.block_on(async {
                let () = redis::cmd("ZADD")
                    .arg("raw:namespaces")
                    .arg(0)
                    .arg("bench")
                    .query_async(&mut raw)
                    .await
                    .expect("zadd");
                let mut pipe = redis::pipe();
                pipe.atomic();
                raw_set(&mut pipe, next(), &payload);
                let () = pipe.query_async(&mut raw).await.expect("set");
            })
        })
    });
    g.finish();

    let side = StoreSide { runtime: &rt, store: &store, payload: payload.clone(), options };
    let mut g = c.benchmark_group("redis_get_many_100");
    side.get_many(&mut g, &mut || format!("k{}", next()), 100);
    g.bench_function("raw", |b| {
        b.iter_batched(
            || (0..100).map(|_| next()).collect::<Vec<_>>(),
            |keys| {
                let mut pipe = redis::pipe();
                for k in keys {
                    pipe.cmd("HMGET")
                        .arg(format!("raw:{{62656e6368}}:r:k{k}"))
                        .arg("s")
                        .arg("e")
                        .arg("m")
                        .arg("p");
                }
                let rows: Vec<Fields> = rt.block_on(pipe.query_async(&mut raw)).expect("pipeline");
                assert_eq!(rows.len(), 100);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("redis_set_many_100");
    side.set_many(&mut g, &mut || format!("k{}", next()), 100);
    g.bench_function("raw", |b| {
        b.iter_batched(
            || (0..100).map(|_| next()).collect::<Vec<_>>(),
            |keys| {
                rt.block_on(async {
                    let mut registry = redis::pipe();
                    for _ in &keys {
                        registry.cmd("ZADD").arg("raw:namespaces").arg(0).arg("bench").ignore();
                    }
                    let () = registry.query_async(&mut raw).await.expect("registry");
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    for k in keys {
                        raw_set(&mut pipe, k, &payload);
                    }
                    let () = pipe.query_async(&mut raw).await.expect("set_many");
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    c.final_summary();
    print_ratios();
}

fn print_ratios() {
    cachestore_test_harness::bench::print_ratio_table(
        "cachestore-redis / raw redis crate (same commands)",
        &[
            ("redis_get", "<= 1.3"),
            ("redis_set", "<= 1.3"),
            ("redis_get_many_100", "<= 1.2"),
            ("redis_set_many_100", "<= 1.2"),
        ],
    );
}
