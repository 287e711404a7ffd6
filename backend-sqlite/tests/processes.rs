//! Reliability with real processes: SIGKILL mid-write, several processes on
//! one file, a full disk.
//!
//! A custom harness: this binary is both the test runner and, started with
//! `child-…` arguments, the child processes it kills or runs side by side.
//! It answers `--list` like libtest, so `cargo test` and `cargo nextest` both
//! run it, and closes with libtest's summary line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachestore_core::{Bytes, CacheStore, Error, SetItem, SetOptions};
use cachestore_sqlite::SqliteStore;

type Test = (&'static str, fn() -> Result<(), String>);

const TESTS: &[Test] = &[
    ("kill_9_mid_write_loses_no_acknowledged_row", kill_9_loop),
    ("four_processes_share_one_file", four_processes),
    ("disk_full_is_a_typed_error_and_keeps_earlier_rows", disk_full),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args.get(1).filter(|a| a.starts_with("child-")) {
        return match run_child(mode, &args[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("child {mode} failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in TESTS {
                println!("{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| {
            filters.is_empty()
                || filters.iter().any(|f| if exact { name == f } else { name.contains(f.as_str()) })
        })
        .collect();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, Vec::new());
    let start = Instant::now();
    for (name, test) in &selected {
        let t = Instant::now();
        match test() {
            Ok(()) => {
                println!("test {name} ... ok ({:.1}s)", t.elapsed().as_secs_f64());
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED\n{e}");
                failed.push(*name);
            }
        }
    }
    let result = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {result}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        failed.len(),
        TESTS.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn run_child(mode: &str, args: &[String]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let path = PathBuf::from(args.first().ok_or("missing path")?);
    let n = |i: usize| -> Result<u64, String> {
        args.get(i).ok_or("missing argument")?.parse().map_err(|e| format!("{e}"))
    };
    match mode {
        "child-writer" => runtime.block_on(child_writer(path, n(1)?)),
        "child-mixed" => runtime.block_on(child_mixed(path, n(1)?)),
        "child-disk-full" => runtime.block_on(child_disk_full(path)),
        _ => Err(format!("unknown child mode {mode}")),
    }
}

/// The payload of version `v` of `key`: its length and bytes derive from
/// both, so a mix of two versions cannot pass [`check_row`].
fn payload(key: &str, v: u64) -> Bytes {
    let len = 64 + (fxhash(key) ^ v) as usize % 2_000;
    let seed = format!("{key}#{v}|");
    Bytes::from(seed.bytes().cycle().take(len).collect::<Vec<u8>>())
}

fn options(key: &str, v: u64) -> SetOptions {
    SetOptions::new().header("key", key).header("version", v.to_string())
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The version a row holds, if it is whole: payload and headers agree.
fn check_row(key: &str, entry: &cachestore_core::Entry) -> Result<u64, String> {
    let v: u64 = entry
        .headers
        .get("version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{key}: no version header: {:?}", entry.headers))?;
    if entry.headers.get("key").map(String::as_str) != Some(key) || entry.payload != payload(key, v)
    {
        return Err(format!("{key}: a torn row (version {v}, {} bytes)", entry.payload.len()));
    }
    Ok(v)
}

/// Writes versions of keys `w{task}-{0..50}` from 4 tasks, single sets and
/// 10-row batches, printing `ack KEY VERSION` after each write returned Ok.
async fn child_writer(path: PathBuf, start: u64) -> Result<(), String> {
    let store = Arc::new(SqliteStore::open(&path).map_err(|e| e.to_string())?);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    // Tasks write until the parent kills the process; the first to fail ends it.
    let (failed, mut failure) = tokio::sync::mpsc::unbounded_channel::<String>();
    for task in 0..4u64 {
        let (store, out, failed) = (Arc::clone(&store), Arc::clone(&out), failed.clone());
        tokio::spawn(async move {
            let mut v = start;
            loop {
                v += 1;
                let keys: Vec<String> = if v.is_multiple_of(3) {
                    (0..10).map(|i| format!("w{task}-{}", (v + i) % 50)).collect()
                } else {
                    vec![format!("w{task}-{}", v % 50)]
                };
                let result = if let [key] = &keys[..] {
                    store.set("ns", key, payload(key, v), options(key, v)).await
                } else {
                    let items = keys
                        .iter()
                        .map(|k| SetItem::new("ns", k.as_str(), payload(k, v), options(k, v)));
                    store.set_many(items.collect()).await
                };
                if let Err(e) = result {
                    let _ = failed.send(format!("write failed: {e}"));
                    return;
                }
                let mut out = out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for k in &keys {
                    let _ = writeln!(out, "ack {k} {v}");
                }
                let _ = out.flush();
            }
        });
    }
    Err(failure.recv().await.unwrap_or_else(|| "every writer task ended".into()))
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| e.to_string())
}

/// A small xorshift, seeded from the time and printed, for kill delays.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("CACHESTORE_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
            });
        (Rng(seed), seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const KILLS: u64 = 60;

fn kill_9_loop() -> Result<(), String> {
    let dir = tempdir()?;
    let path = dir.path().join("cache.sqlite");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut rng, seed) = Rng::new();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let mut total_acks = 0usize;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["child-writer", &path.display().to_string(), &(round * 1_000_000).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(120)));
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(format!("round {round}: the writer exited by itself ({status}): {err}"));
        }
        child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        child.wait().map_err(|e| e.to_string())?;
        let lines = reader.join().map_err(|_| "reader thread panicked")?;
        for line in lines {
            let mut parts = line.split(' ');
            if let (Some("ack"), Some(key), Some(v)) = (parts.next(), parts.next(), parts.next()) {
                let v: u64 = v.parse().map_err(|e| format!("bad ack {line:?}: {e}"))?;
                let e = acked.entry(key.to_owned()).or_insert(0);
                *e = (*e).max(v);
                total_acks += 1;
            }
        }
        runtime
            .block_on(async {
                let store = SqliteStore::open(&path)
                    .map_err(|e| format!("round {round}: reopen after SIGKILL failed: {e}"))?;
                store.integrity_check().await.map_err(|e| format!("round {round}: {e}"))?;
                for (key, &v) in &acked {
                    let row = store
                        .get("ns", key)
                        .await
                        .map_err(|e| format!("round {round}: {e}"))?
                        .ok_or_else(|| {
                            format!("round {round}: acknowledged row {key} v{v} is missing")
                        })?;
                    let got = check_row(key, &row).map_err(|e| format!("round {round}: {e}"))?;
                    if got < v {
                        return Err(format!(
                            "round {round}: {key} went back from acknowledged v{v} to v{got}"
                        ));
                    }
                }
                Ok::<(), String>(())
            })
            .map_err(|e| format!("{e} (seed {seed}; rerun with CACHESTORE_KILL_SEED={seed})"))?;
    }
    if total_acks < KILLS as usize * 10 {
        return Err(format!(
            "only {total_acks} writes were acknowledged in {KILLS} rounds: the test did not test"
        ));
    }
    println!(
        "  {KILLS} SIGKILLs, {total_acks} acknowledged writes, {} keys checked each round (seed {seed})",
        acked.len()
    );
    Ok(())
}

const PROCESSES: u64 = 4;
const MIXED_OPS: u64 = 5_000;

/// `MIXED_OPS` operations: sets of its own keys on even steps, gets of any
/// process's keys on odd ones, every row read checked whole.
async fn child_mixed(path: PathBuf, id: u64) -> Result<(), String> {
    let store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
    let mut rng = Rng(0x9e37_79b9 * (id + 1));
    for i in 0..MIXED_OPS {
        if i % 2 == 0 {
            let key = format!("p{id}-{}", (i / 2) % 500);
            store
                .set("ns", &key, payload(&key, i), options(&key, i))
                .await
                .map_err(|e| format!("set {key}: {e}"))?;
        } else {
            let key = format!("p{}-{}", rng.below(PROCESSES), rng.below(500));
            if let Some(row) = store.get("ns", &key).await.map_err(|e| format!("get {key}: {e}"))? {
                check_row(&key, &row)?;
            }
        }
    }
    Ok(())
}

fn four_processes() -> Result<(), String> {
    let dir = tempdir()?;
    let path = dir.path().join("shared.sqlite");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args(["child-mixed", &path.display().to_string(), &id.to_string()])
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("process {id} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let elapsed = started.elapsed();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
        for id in 0..PROCESSES {
            for k in 0..500 {
                let key = format!("p{id}-{k}");
                // The last even step that wrote key k.
                let last = (0..MIXED_OPS)
                    .step_by(2)
                    .filter(|i| (i / 2) % 500 == k)
                    .max()
                    .ok_or("no write")?;
                let row = store
                    .get("ns", &key)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("{key} missing"))?;
                let v = check_row(&key, &row)?;
                if v != last {
                    return Err(format!("{key}: version {v}, the last write was {last}"));
                }
            }
        }
        Ok::<(), String>(())
    })?;
    println!(
        "  {PROCESSES} processes × {MIXED_OPS} operations in {:.1}s, no error surfaced",
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// Inside a private mount namespace with a 1 MiB tmpfs at `path`'s
/// directory: write until the disk is full, then check the error and rows.
async fn child_disk_full(path: PathBuf) -> Result<(), String> {
    let dir = path.parent().ok_or("no directory")?;
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", &dir.display().to_string()])
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    if !status.success() {
        return Err(format!("mount of a 1 MiB tmpfs failed: {status}"));
    }
    // Another file takes a quarter of the disk, to be freed later.
    let ballast = dir.join("ballast");
    std::fs::write(&ballast, vec![0u8; 256 * 1024]).map_err(|e| format!("ballast: {e}"))?;
    let store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    let mut full = None;
    for i in 0..10_000u64 {
        let key = format!("k{i}");
        match store.set("ns", &key, payload(&key, i), options(&key, i)).await {
            Ok(()) => written.push((key, i)),
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let err = full.ok_or("1 MiB never filled up")?;
    let storage_full = matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull);
    if !storage_full {
        return Err(format!("a full disk gave {err:?}, not Error::Io with ErrorKind::StorageFull"));
    }
    if written.len() < 10 {
        return Err(format!("only {} rows fit before the error", written.len()));
    }
    for (key, v) in &written {
        let row = store
            .get("ns", key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or(format!("{key} lost after disk full"))?;
        if check_row(key, &row)? != *v {
            return Err(format!("{key} changed after disk full"));
        }
    }
    // Freeing space makes the store writable again, on the same handle.
    std::fs::remove_file(&ballast).map_err(|e| format!("removing the ballast: {e}"))?;
    store
        .set("ns", "after", payload("after", 1), options("after", 1))
        .await
        .map_err(|e| format!("write after freeing space: {e}"))?;
    println!("  {} rows written before the disk filled; error: {err}", written.len());
    Ok(())
}

fn disk_full() -> Result<(), String> {
    let dir = tempdir()?;
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let db = mount.join("cache.sqlite");
    // A user and mount namespace of our own: the tmpfs is private to the
    // child and vanishes with it; no root on the host is needed.
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(&exe)
        .args(["child-disk-full", &db.display().to_string()])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            Ok(())
        }
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("unshare failed") || stderr.contains("Operation not permitted") {
                skip(&format!(
                    "disk-full test: cannot create a private tmpfs here ({})",
                    stderr.trim()
                ))
            } else {
                Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr))
            }
        }
        Err(e) => {
            skip(&format!("disk-full test: `unshare` is not available ({e}); install util-linux"))
        }
    }
}

/// A loud skip, or a failure when CI requires every test to run.
fn skip(why: &str) -> Result<(), String> {
    if std::env::var("CACHESTORE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        return Err(format!("{why}, and CACHESTORE_REQUIRE_SERVICES=1"));
    }
    println!("SKIPPED: {why}");
    Ok(())
}
