//! One fetch per key across processes: four processes × 100 concurrent
//! callers on one cold key, sharing a SQLite file or a Redis server, run the
//! fetcher once (the fetch lease); and a lease holder killed mid-fetch holds
//! the others up for at most the lease TTL.
//!
//! The binary is its own child process (`harness = false`): started with
//! `child …` it is one of the fetching processes.
#![cfg(all(feature = "sqlite", feature = "redis"))]

#[path = "../backend-redis/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachestore::{Cache, FetchPolicy};

const PROCESSES: usize = 4;
const CALLERS: usize = 100;

/// A child: `child <store url> <fetch log> <fetch ms> <lease ms>`. 100
/// tasks call `get_or_fetch` on one key; each fetch appends a line to the
/// log and takes `fetch ms`.
fn child(args: &[String]) -> Result<(), String> {
    let [url, log, fetch_ms, lease_ms] = args else { return Err(format!("bad args {args:?}")) };
    let fetch_ms: u64 = fetch_ms.parse().map_err(|e| format!("{e}"))?;
    let lease_ms: u64 = lease_ms.parse().map_err(|e| format!("{e}"))?;
    let log = PathBuf::from(log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let store = cachestore::open(url).map_err(|e| e.to_string())?;
        let cache =
            Cache::builder(store).fetch_lease(Some(Duration::from_millis(lease_ms))).build();
        let policy = FetchPolicy::new(Duration::from_secs(3600));
        let mut tasks = Vec::new();
        for _ in 0..CALLERS {
            let (cache, policy, log) = (cache.clone(), policy.clone(), log.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(
                        "streams",
                        "https://example.org/live",
                        &policy,
                        move || async move {
                            let mut f = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&log)
                                .map_err(|e| e.to_string())?;
                            writeln!(f, "fetch by {}", std::process::id())
                                .map_err(|e| e.to_string())?;
                            tokio::time::sleep(Duration::from_millis(fetch_ms)).await;
                            Ok::<_, String>("https://cdn.example.org/resolved.m3u8".to_owned())
                        },
                    )
                    .await
                    .map(|c| c.value)
                    .map_err(|e| e.to_string())
            }));
        }
        for t in tasks {
            let value = t.await.map_err(|e| e.to_string())??;
            if value != "https://cdn.example.org/resolved.m3u8" {
                return Err(format!("a caller got {value:?}"));
            }
        }
        Ok(())
    })
}

fn spawn(
    url: &str,
    log: &Path,
    fetch_ms: u64,
    lease_ms: u64,
) -> Result<std::process::Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .args([
            "child",
            url,
            &log.display().to_string(),
            &fetch_ms.to_string(),
            &lease_ms.to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())
}

fn fetches(log: &Path) -> usize {
    std::fs::read_to_string(log).map(|s| s.lines().count()).unwrap_or(0)
}

/// Four processes × 100 callers on one cold key: one fetch.
fn one_fetch_across_processes(url: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("fetches.log");
    let children: Vec<_> =
        (0..PROCESSES).map(|_| spawn(url, &log, 400, 10_000)).collect::<Result<_, _>>()?;
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("process {i}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let n = fetches(&log);
    println!("  {PROCESSES} processes × {CALLERS} callers on {url}: {n} fetch(es)");
    if n != 1 {
        return Err(format!("{n} fetches across {PROCESSES} processes, not 1"));
    }
    Ok(())
}

/// The lease holder is killed mid-fetch: the next process fetches once the
/// lease lapses, no sooner and not much later.
fn a_killed_holder_delays_the_others_by_at_most_the_lease(url: &str) -> Result<(), String> {
    const LEASE_MS: u64 = 1_500;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("fetches.log");
    let mut holder = spawn(url, &log, 60_000, LEASE_MS)?;
    let started = Instant::now();
    while fetches(&log) == 0 {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = holder.kill();
            return Err("the first process never fetched".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let held_at = Instant::now();
    holder.kill().map_err(|e| e.to_string())?;
    let _ = holder.wait();
    let next = spawn(url, &log, 10, LEASE_MS)?;
    let out = next.wait_with_output().map_err(|e| e.to_string())?;
    let waited = held_at.elapsed();
    if !out.status.success() {
        return Err(format!("the next process failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    println!(
        "  a killed holder: the next process had its value {waited:?} after the lease was taken"
    );
    if fetches(&log) != 2 {
        return Err(format!("{} fetches, expected the killed one and one more", fetches(&log)));
    }
    if waited < Duration::from_millis(LEASE_MS - 200) {
        return Err(format!("the next process fetched after {waited:?}, inside the lease"));
    }
    if waited > Duration::from_millis(LEASE_MS + 5_000) {
        return Err(format!(
            "the next process waited {waited:?}, far past the {LEASE_MS} ms lease"
        ));
    }
    Ok(())
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("shared.sqlite").display())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return match child(&args[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("child failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let arguments = libtest_mimic::Arguments::from_args();
    let redis = Arc::new(std::sync::OnceLock::<Result<support::Server, String>>::new());
    let redis_url = move |what: &str| -> Result<Option<String>, String> {
        if !support::require_server(what) {
            return Ok(None);
        }
        match redis.get_or_init(|| support::Server::start(&[])) {
            Ok(server) => Ok(Some(format!("{}?prefix={}", server.url(), support::unique_prefix()))),
            Err(e) => Err(e.clone()),
        }
    };
    let redis_url2 = redis_url.clone();
    let trials = vec![
        libtest_mimic::Trial::test("sqlite_four_processes_fetch_once", || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            Ok(one_fetch_across_processes(&sqlite_url(dir.path()))?)
        }),
        libtest_mimic::Trial::test("redis_four_processes_fetch_once", move || {
            match redis_url("redis_four_processes_fetch_once")? {
                Some(url) => Ok(one_fetch_across_processes(&url)?),
                None => Ok(()),
            }
        }),
        libtest_mimic::Trial::test(
            "sqlite_a_killed_lease_holder_delays_others_by_the_lease",
            || {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                Ok(a_killed_holder_delays_the_others_by_at_most_the_lease(&sqlite_url(dir.path()))?)
            },
        ),
        libtest_mimic::Trial::test(
            "redis_a_killed_lease_holder_delays_others_by_the_lease",
            move || match redis_url2("redis_a_killed_lease_holder_delays_others_by_the_lease")? {
                Some(url) => Ok(a_killed_holder_delays_the_others_by_at_most_the_lease(&url)?),
                None => Ok(()),
            },
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit_code()
}
