//! Every field of every row survives `export` + `import` and `migrate`
//! between every pair of persistent backends (SQLite, redb, Redis): rows
//! are compared field by field (payload, headers, stored_at, expires_at,
//! stale_until) with what the source store holds, read through the library,
//! not export against export (an export that dropped a field would equal
//! itself).

#[path = "../../backend-redis/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cachestore::{Bytes, Entry, SetOptions};

/// The rows: fresh with headers (several, non-ASCII, an empty value),
/// stale, never expiring with a binary payload, and an empty payload.
fn rows() -> Vec<(&'static str, &'static str, Bytes, SetOptions)> {
    vec![
        (
            "movies",
            "603",
            Bytes::from_static(br#"{"title":"The Matrix"}"#),
            SetOptions::for_duration(Duration::from_secs(3600))
                .stale_for(Duration::from_secs(86_400))
                .header("etag", "\"v1\"")
                .header("ключ", "🦀")
                .header("x-empty", "")
                .tag("movie:603")
                .tag("source:tmdb"),
        ),
        (
            "movies",
            "stale",
            Bytes::from_static(b"old"),
            SetOptions::for_duration(Duration::ZERO)
                .stale_for(Duration::from_secs(2 * 86_400))
                .header("k", "v=w"),
        ),
        ("a:b", "c", Bytes::from_static(&[0, 159, 146, 150, 255]), SetOptions::new()),
        ("a", "b:c", Bytes::new(), SetOptions::for_duration(Duration::from_secs(7 * 86_400))),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Writes the rows into the store at `url` and returns them as it holds
/// them (times in whole milliseconds, as stored).
fn fill(url: &str) -> Vec<(String, String, Entry)> {
    runtime().block_on(async {
        let store = cachestore::open(url).expect("open the source");
        let mut held = Vec::new();
        // Each row an hour older than the one before (restore writes), so
        // that a copy which took the import's time instead would show.
        let now = std::time::SystemTime::now();
        for (i, (ns, key, payload, options)) in rows().into_iter().enumerate() {
            let options = options.stored_at(now - Duration::from_secs(3600) * i as u32);
            store.set(ns, key, payload, options).await.expect("set");
            let entry = store.get_stale(ns, key).await.expect("get").expect("just written");
            held.push((ns.to_owned(), key.to_owned(), entry));
        }
        held
    })
}

/// Checks that the store at `url` holds exactly `want`, field by field.
fn holds(url: &str, want: &[(String, String, Entry)], path: &str) {
    runtime().block_on(async {
        let store = cachestore::open(url).expect("open the target");
        let stats = store.stats().await.expect("stats");
        assert_eq!(stats.fresh + stats.stale, want.len() as u64, "{path}: row count");
        for (ns, key, entry) in want {
            let got = store.get_stale(ns, key).await.expect("get");
            let got = got.unwrap_or_else(|| panic!("{path}: ({ns:?}, {key:?}) is missing"));
            assert_eq!(got.payload, entry.payload, "{path}: payload of ({ns:?}, {key:?})");
            assert_eq!(got.headers, entry.headers, "{path}: headers of ({ns:?}, {key:?})");
            assert_eq!(got.tags, entry.tags, "{path}: tags of ({ns:?}, {key:?})");
            assert_eq!(got.stored_at, entry.stored_at, "{path}: stored_at of ({ns:?}, {key:?})");
            assert_eq!(got.expires_at, entry.expires_at, "{path}: expires_at of ({ns:?}, {key:?})");
            assert_eq!(
                got.stale_until, entry.stale_until,
                "{path}: stale_until of ({ns:?}, {key:?})"
            );
        }
    });
}

fn run(store: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_cachestore"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run cachestore");
    assert!(
        out.status.success(),
        "cachestore {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new, empty store of `kind` (`n` makes it unique).
fn store(kind: &str, dir: &Path, redis: Option<&support::Server>, n: usize) -> Option<String> {
    Some(match kind {
        "sqlite" => format!("sqlite://{}", dir.join(format!("s{n}.sqlite")).display()),
        "redb" => format!("redb://{}", dir.join(format!("r{n}.redb")).display()),
        _ => format!("{}?prefix=p{n}:", redis?.url()),
    })
}

#[test]
fn every_field_survives_export_import_and_migrate_between_every_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = support::require_server("the Redis pairs")
        .then(|| support::Server::start(&[]).expect("a private redis-server"));
    let kinds = ["sqlite", "redb", "redis"];
    let mut n = 0;
    let mut checked = 0;
    for from in kinds {
        for to in kinds {
            n += 3;
            let (Some(src), Some(via_migrate), Some(via_import)) = (
                store(from, dir.path(), redis.as_ref(), n),
                store(to, dir.path(), redis.as_ref(), n + 1),
                store(to, dir.path(), redis.as_ref(), n + 2),
            ) else {
                continue;
            };
            let want = fill(&src);
            let state = dir.path().join(format!("m{n}.state")).display().to_string();
            run(&src, &["migrate", &src, &via_migrate, "--state", &state]);
            holds(&via_migrate, &want, &format!("migrate {from} -> {to}"));
            let file = dir.path().join(format!("e{n}.jsonl")).display().to_string();
            run(&src, &["export", &file]);
            run(&via_import, &["import", &file]);
            holds(&via_import, &want, &format!("export {from} | import {to}"));
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} pairs ran");
}

/// The command over TLS: `rediss://` with the server's certificate
/// authority given as `tls_ca_file=` (the CLI is built with the facade's
/// `redis-tls`), a row written and read back through the real binary.
#[test]
fn the_command_speaks_tls_to_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_server, port, ca)) = support::require_tls_server("cli over TLS", dir.path()) else {
        return;
    };
    let store =
        format!("rediss://127.0.0.1:{port}/0?prefix={}&tls_ca_file={ca}", support::unique_prefix());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cachestore"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run cachestore");
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    run(&["set", "movies", "603", "--ttl", "1h"], Some("{\"title\":\"The Matrix\"}"));
    assert_eq!(run(&["get", "movies", "603"], None).trim(), "{\"title\":\"The Matrix\"}");
}
