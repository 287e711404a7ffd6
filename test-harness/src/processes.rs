//! Reliability tests with real processes, for any persistent backend:
//! SIGKILL mid-write, a full disk, and several processes on one file (or,
//! for a single-process engine, a second process refused at once).
//!
//! Use it from a test target with `harness = false`: the binary is both the
//! runner (`libtest-mimic`, so `cargo test` and `cargo nextest` both run it,
//! filters and `--list` work, and it closes with libtest's summary line) and,
//! started with `child-…` arguments, the child processes it kills or runs
//! side by side.
//!
//! ```text
//! // tests/processes.rs, with [[test]] name = "processes", harness = false
//! fn main() -> std::process::ExitCode {
//!     cachestore_test_harness::processes::main(&cachestore_test_harness::processes::Backend {
//!         file_name: "cache.mine",
//!         companions: &["-wal"], // files beside it that belong to the store
//!         open: |path| Ok(std::sync::Arc::new(MyStore::open(path)?)),
//!         recreate: |path| MyStore::recreating(path), // the store, and where a damaged one went
//!         verify: |path| Ok(()), // a deep check of the file after each kill
//!         settle: |path| Ok(()), // make the closed file hold every row
//!     })
//! }
//! ```
//!
//! The tests: SIGKILL mid-write; SIGKILL at creation and during the open of a
//! crashed store; eight processes racing to open one new file (with and
//! without recreating a damaged one); a corruption campaign (1,000 damaged
//! copies by default, `CACHESTORE_CORRUPTIONS` for more), each opened in a
//! child process so that a panic, an abort or a hang is counted; a full
//! disk; several processes on one file, or a second process refused.
//!
//! The disk-full test mounts a 1 MiB tmpfs in a private user and mount
//! namespace (`unshare`, from util-linux); where that is impossible it
//! prints `SKIPPED: …`, or fails under `CACHESTORE_REQUIRE_SERVICES=1`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachestore_core::raw::files::sidecar;
use cachestore_core::{Bytes, CacheStore, Error, SetItem, SetOptions};

/// The backend under test.
#[derive(Clone, Copy)]
pub struct Backend {
    /// The store's file name inside a temporary directory.
    pub file_name: &'static str,
    /// The suffixes of the files beside it that belong to the store (its
    /// log, say): copied with it into crash images, damaged too, and kept
    /// when it is moved aside.
    pub companions: &'static [&'static str],
    /// Opens (creating if needed) the store at a path.
    pub open: fn(&Path) -> cachestore_core::Result<Arc<dyn CacheStore>>,
    /// Opens the store at a path, recreating it if it is damaged; returns it
    /// and where the damaged file was moved (`None`: it opened as it was).
    #[allow(clippy::type_complexity)]
    pub recreate: fn(&Path) -> cachestore_core::Result<(Arc<dyn CacheStore>, Option<PathBuf>)>,
    /// A deep check of the file after each kill, beyond reading every
    /// acknowledged row: SQLite's `integrity_check`, say.
    pub verify: fn(&Path) -> Result<(), String>,
    /// Makes the closed file hold every row by itself, before it is copied
    /// or damaged (SQLite: checkpoint the write-ahead log); often a no-op.
    pub settle: fn(&Path) -> Result<(), String>,
}

type Test = (&'static str, fn(&Backend) -> Result<(), String>);

/// Runs the tests that apply to `backend` (by its capabilities), or one
/// child process; returns the exit code for `main`.
pub fn main(backend: &Backend) -> ExitCode {
    let caps = match tempdir().and_then(|d| {
        (backend.open)(&d.path().join(backend.file_name))
            .map(|s| s.capabilities())
            .map_err(|e| e.to_string())
    }) {
        Ok(caps) => caps,
        Err(e) => {
            eprintln!("cannot open a store to read its capabilities: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tests: Vec<Test> = vec![
        ("kill_9_mid_write_loses_no_acknowledged_row", kill_9_loop),
        ("kill_9_at_creation_and_recovery_always_reopens", kill_9_at_open),
        ("eight_processes_race_to_open_a_new_file", racing_opens),
        ("a_corruption_campaign_gives_typed_errors_or_true_rows", crate::corruption::campaign),
        ("disk_full_is_a_typed_error_and_keeps_earlier_rows", disk_full),
    ];
    if caps.multi_process {
        tests.push(("four_processes_share_one_file", four_processes));
        if caps.conditional_writes {
            tests.push(("four_processes_increment_one_counter_exactly", counter_processes));
        }
    } else {
        tests.push(("a_second_process_gets_in_use_at_once", second_process_in_use));
    }
    run(backend, &tests)
}

/// Runs one child process (started with a `child-…` argument), or the
/// tests, with libtest's command line and output (`--list`, filters,
/// `--exact`, …), one at a time unless `--test-threads` says otherwise:
/// they start processes and time kills.
fn run(backend: &Backend, tests: &[Test]) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args.get(1).filter(|a| a.starts_with("child-")) {
        return match run_child(backend, mode, &args[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("child {mode} failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut arguments = libtest_mimic::Arguments::from_args();
    arguments.test_threads = arguments.test_threads.or(Some(1));
    let backend = *backend;
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            libtest_mimic::Trial::test(name, move || {
                let started = Instant::now();
                test(&backend).map_err(libtest_mimic::Failed::from)?;
                println!("  ({name}: {:.1}s)", started.elapsed().as_secs_f64());
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit_code()
}

fn run_child(backend: &Backend, mode: &str, args: &[String]) -> Result<(), String> {
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
        "child-writer" => runtime.block_on(child_writer(backend, path, n(1)?)),
        "child-mixed" => runtime.block_on(child_mixed(backend, path, n(1)?)),
        "child-disk-full" => runtime.block_on(child_disk_full(backend, path)),
        "child-hold" => child_hold(backend, &path),
        "child-increment" => runtime.block_on(async {
            let store = (backend.open)(&path).map_err(|e| e.to_string())?;
            for _ in 0..n(1)? {
                cachestore_conformance::versions::increment(store.as_ref()).await;
            }
            Ok(())
        }),
        "child-race" => runtime.block_on(child_race(backend, &path, n(1)? == 1, n(2)?, n(3)?)),
        "child-damaged" => runtime.block_on(crate::corruption::child_damaged(backend, &path)),
        "child-recreate" => crate::corruption::child_recreate(backend, &path),
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
async fn child_writer(backend: &Backend, path: PathBuf, start: u64) -> Result<(), String> {
    let store = (backend.open)(&path).map_err(|e| e.to_string())?;
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

/// Records the `ack KEY VERSION` lines of a writer in `acked` (the highest
/// version per key); returns how many there were.
fn record_acks(lines: &[String], acked: &mut BTreeMap<String, u64>) -> Result<usize, String> {
    let mut count = 0;
    for line in lines {
        let mut parts = line.split(' ');
        if let (Some("ack"), Some(key), Some(v)) = (parts.next(), parts.next(), parts.next()) {
            let v: u64 = v.parse().map_err(|e| format!("bad ack {line:?}: {e}"))?;
            let e = acked.entry(key.to_owned()).or_insert(0);
            *e = (*e).max(v);
            count += 1;
        }
    }
    Ok(count)
}

/// Reopens the store at `path` and checks every acknowledged row is there,
/// whole, at its acknowledged version or later.
fn check_acked(
    backend: &Backend,
    runtime: &tokio::runtime::Runtime,
    path: &Path,
    acked: &BTreeMap<String, u64>,
) -> Result<(), String> {
    runtime.block_on(async {
        let store = (backend.open)(path).map_err(|e| format!("the store does not reopen: {e}"))?;
        for (key, &v) in acked {
            let row = store
                .get("ns", key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("acknowledged row {key} v{v} is missing"))?;
            let got = check_row(key, &row)?;
            if got < v {
                return Err(format!("{key} went back from acknowledged v{v} to v{got}"));
            }
        }
        Ok::<(), String>(())
    })
}

fn kill_9_loop(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let path = dir.path().join(backend.file_name);
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
        total_acks += record_acks(&lines, &mut acked)?;
        (backend.verify)(&path).map_err(|e| format!("round {round}: {e} (seed {seed})"))?;
        check_acked(backend, &runtime, &path, &acked).map_err(|e| {
            format!("round {round}: {e} (seed {seed}; rerun with CACHESTORE_KILL_SEED={seed})")
        })?;
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

/// `MIXED_OPS` operations: sets of its own keys on even steps; on odd ones
/// gets of any process's keys, every row read checked whole, and now and
/// then operations that read and then write in one transaction (a delete of
/// another process's row, a purge, a clear) in namespace `tmp`. With the
/// store's busy timeout none may surface an error: a writer that began its
/// transactions as readers and upgraded them would get `SQLITE_BUSY` at once
/// here, whatever the timeout.
async fn child_mixed(backend: &Backend, path: PathBuf, id: u64) -> Result<(), String> {
    let store = (backend.open)(&path).map_err(|e| e.to_string())?;
    let mut rng = Rng(0x9e37_79b9 * (id + 1));
    let dead = SetOptions::new().ttl(cachestore_core::Ttl::For(Duration::ZERO));
    for i in 0..MIXED_OPS {
        if i % 2 == 0 {
            let key = format!("p{id}-{}", (i / 2) % 500);
            store
                .set("ns", &key, payload(&key, i), options(&key, i))
                .await
                .map_err(|e| format!("set {key}: {e}"))?;
        } else if i % 10 == 1 {
            let own = format!("p{id}-{i}");
            let other = format!("p{}-{}", rng.below(PROCESSES), i.saturating_sub(10));
            let both = async {
                store.set("tmp", &own, payload(&own, i), dead.clone()).await?;
                store.delete("tmp", &other).await
            };
            both.await.map_err(|e| format!("set and delete in tmp: {e}"))?;
        } else if i % 50 == 3 {
            store.purge_expired().await.map_err(|e| format!("purge: {e}"))?;
        } else if i % 500 == 5 {
            store.clear_namespace("tmp").await.map_err(|e| format!("clear: {e}"))?;
        } else {
            let key = format!("p{}-{}", rng.below(PROCESSES), rng.below(500));
            if let Some(row) = store.get("ns", &key).await.map_err(|e| format!("get {key}: {e}"))? {
                check_row(&key, &row)?;
            }
        }
    }
    Ok(())
}

/// Runs [`PROCESSES`] children in `mode` on the store at `path` at once,
/// child `id` with the argument `arg(id)`, and waits for all; a child that
/// fails is an error with its stderr.
fn run_side_by_side(mode: &str, path: &Path, arg: impl Fn(u64) -> String) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([mode, &path.display().to_string(), &arg(id)])
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
    Ok(())
}

/// Four processes each add 500 to one counter by read, `set_if(IfVersion)`
/// and retry (CONTRACT.md §7): the counter ends at exactly 2,000, no
/// increment lost across processes, none doubled.
fn counter_processes(backend: &Backend) -> Result<(), String> {
    const EACH: u64 = 500;
    let dir = tempdir()?;
    let path = dir.path().join(backend.file_name);
    // Created first, so that the children race on increments, not on creation.
    drop((backend.open)(&path).map_err(|e| e.to_string())?);
    let started = Instant::now();
    run_side_by_side("child-increment", &path, |_| EACH.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let total = runtime.block_on(async {
        let store = (backend.open)(&path).map_err(|e| e.to_string())?;
        Ok::<u64, String>(cachestore_conformance::versions::read_counter(store.as_ref()).await)
    })?;
    let want = PROCESSES * EACH;
    if total != want {
        return Err(format!(
            "the counter ends at {total}, not {want}: increments were lost or doubled"
        ));
    }
    println!(
        "  {PROCESSES} processes × {EACH} increments: {total} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn four_processes(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let path = dir.path().join(backend.file_name);
    let started = Instant::now();
    run_side_by_side("child-mixed", &path, |id| id.to_string())?;
    let elapsed = started.elapsed();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = (backend.open)(&path).map_err(|e| e.to_string())?;
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
        "  {PROCESSES} processes × {MIXED_OPS} operations (sets, gets, deletes, purges, clears) \
         in {:.1}s, no error surfaced",
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// Inside a private mount namespace with a 1 MiB tmpfs at `path`'s
/// directory: write until the disk is full, then check the error; reads on
/// the same handle give the written rows or a typed error; once space is
/// freed, a reopened store holds every written row and takes writes again.
async fn child_disk_full(backend: &Backend, path: PathBuf) -> Result<(), String> {
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
    let store = (backend.open)(&path).map_err(|e| e.to_string())?;
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
    let check_all = |store: Arc<dyn CacheStore>, strict: bool| {
        let written = written.clone();
        async move {
            for (key, v) in &written {
                match store.get("ns", key).await {
                    Ok(Some(row)) if check_row(key, &row)? == *v => {}
                    Ok(Some(_)) => return Err(format!("{key} changed after disk full")),
                    Ok(None) => return Err(format!("{key} lost after disk full")),
                    // The engine may refuse work until reopened: a typed error.
                    Err(e) if strict => return Err(format!("{key} after reopening: {e}")),
                    Err(_) => {}
                }
            }
            Ok::<(), String>(())
        }
    };
    check_all(Arc::clone(&store), false).await?;
    drop(store);
    std::fs::remove_file(&ballast).map_err(|e| format!("removing the ballast: {e}"))?;
    let store = (backend.open)(&path).map_err(|e| format!("reopening after disk full: {e}"))?;
    check_all(Arc::clone(&store), true).await?;
    store
        .set("ns", "after", payload("after", 1), options("after", 1))
        .await
        .map_err(|e| format!("write after freeing space: {e}"))?;
    println!("  {} rows written before the disk filled; error: {err}", written.len());
    Ok(())
}

fn disk_full(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let db = mount.join(backend.file_name);
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

/// Opens the store, says `ready`, and holds it until killed.
fn child_hold(backend: &Backend, path: &Path) -> Result<(), String> {
    let _store = (backend.open)(path).map_err(|e| e.to_string())?;
    println!("ready");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A single-process engine: while a child process holds the store, opening
/// it fails at once with `Error::InUse` naming the path; after the child is
/// gone, it opens.
fn second_process_in_use(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let path = dir.path().join(backend.file_name);
    drop((backend.open)(&path).map_err(|e| e.to_string())?);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(&exe)
        .args(["child-hold", &path.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let result = (|| {
        if line.trim() != "ready" {
            return Err(format!("the holding child said {line:?}"));
        }
        let started = Instant::now();
        let outcome = (backend.open)(&path);
        let took = started.elapsed();
        match outcome {
            Err(Error::InUse { path: p, .. }) if p == path => {}
            Err(e) => return Err(format!("a second process got {e:?}, not Error::InUse")),
            Ok(_) => return Err("a second process opened a store another process holds".into()),
        }
        if took > Duration::from_secs(1) {
            return Err(format!("InUse took {took:?}: it must come at once"));
        }
        println!("  a second process got InUse in {took:?}");
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result?;
    (backend.open)(&path).map(drop).map_err(|e| format!("open after the holder exited: {e}"))
}

/// A loud skip, or a failure when CI requires every test to run.
fn skip(why: &str) -> Result<(), String> {
    if std::env::var("CACHESTORE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        return Err(format!("{why}, and CACHESTORE_REQUIRE_SERVICES=1"));
    }
    println!("SKIPPED: {why}");
    Ok(())
}

/// The store's files at `path` (the main file, then each companion that
/// exists), by suffix.
pub(crate) fn store_files(
    backend: &Backend,
    path: &Path,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut files = Vec::new();
    for suffix in std::iter::once("").chain(backend.companions.iter().copied()) {
        let file = sidecar(path, suffix);
        match std::fs::read(&file) {
            Ok(bytes) => files.push((suffix.to_owned(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {}: {e}", file.display())),
        }
    }
    Ok(files)
}

/// Writes a store's files (as [`store_files`] gives them) at `path`.
pub(crate) fn write_store_files(path: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    for (suffix, bytes) in files {
        let file = sidecar(path, suffix);
        std::fs::write(&file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))?;
    }
    Ok(())
}

const KILLS_AT_OPEN: u64 = 200;

/// How long a writer takes from its start to its first acknowledged write
/// on a new store, here and now.
fn time_to_first_ack(exe: &Path, dir: &Path, backend: &Backend) -> Result<Duration, String> {
    let path = dir.join(format!("calibrate-{}", backend.file_name));
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["child-writer", &path.display().to_string(), "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let first = BufReader::new(stdout).lines().next();
    let took = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    match first {
        Some(Ok(line)) if line.starts_with("ack ") => Ok(took),
        other => Err(format!("the calibration writer said {other:?}")),
    }
}

/// SIGKILL at a random moment between a writer's start and about twice the
/// time it takes to acknowledge its first write (measured first), so that
/// most kills land while the store is being created (every fourth round
/// starts on a new path) or while the crash the previous round left is being
/// recovered. After each kill, a copy of the files must open, with every
/// acknowledged row whole.
fn kill_9_at_open(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut rng, seed) = Rng::new();
    let window = time_to_first_ack(&exe, dir.path(), backend)?.as_micros() as u64 * 2;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let (mut total_acks, mut empty_rounds, mut no_file) = (0usize, 0u64, 0u64);
    let mut path = PathBuf::new();
    for round in 0..KILLS_AT_OPEN {
        if round % 4 == 0 {
            let sub = dir.path().join(format!("s{round}"));
            std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
            path = sub.join(backend.file_name);
            acked.clear();
        }
        let mut child = Command::new(&exe)
            .args(["child-writer", &path.display().to_string(), &(round * 1_000_000).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_micros(rng.below(window.max(1))));
        child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        child.wait().map_err(|e| e.to_string())?;
        let lines = reader.join().map_err(|_| "reader thread panicked")?;
        let before = total_acks;
        total_acks += record_acks(&lines, &mut acked)?;
        empty_rounds += u64::from(before == total_acks);
        // Check a copy, so that the next round recovers the crash itself.
        let files = store_files(backend, &path)?;
        if files.is_empty() {
            no_file += 1;
            if !acked.is_empty() {
                return Err(format!("round {round}: acknowledged rows but no file (seed {seed})"));
            }
            continue;
        }
        let check_dir = dir.path().join(format!("check{round}"));
        std::fs::create_dir(&check_dir).map_err(|e| e.to_string())?;
        let copy = check_dir.join(backend.file_name);
        write_store_files(&copy, &files)?;
        check_acked(backend, &runtime, &copy, &acked).map_err(|e| {
            format!("round {round}: {e} (seed {seed}; rerun with CACHESTORE_KILL_SEED={seed})")
        })?;
        let _ = std::fs::remove_dir_all(&check_dir);
    }
    if empty_rounds == 0 || empty_rounds == KILLS_AT_OPEN {
        return Err(format!(
            "{empty_rounds} of {KILLS_AT_OPEN} rounds were killed before any write: the kills \
             did not land both at open and after it"
        ));
    }
    println!(
        "  {KILLS_AT_OPEN} SIGKILLs within {} ms of the start: {empty_rounds} before any \
         acknowledged write ({no_file} before any file existed), {total_acks} acknowledged writes \
         kept (seed {seed})",
        window / 1000
    );
    Ok(())
}

/// Rounds of the race; `CACHESTORE_RACE_ROUNDS` sets another number.
const RACE_ROUNDS: u64 = 12;
const RACERS: u64 = 8;

/// Waits until `start_ms` (Unix ms), opens the store (recreating a damaged
/// one when asked), writes and reads back its own row, holds the store for a
/// moment and says `opened`; or says `error <variant>: <message>`.
async fn child_race(
    backend: &Backend,
    path: &Path,
    recreate: bool,
    id: u64,
    start_ms: u64,
) -> Result<(), String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?;
    if let Some(wait) = Duration::from_millis(start_ms).checked_sub(now) {
        std::thread::sleep(wait);
    }
    let opened = if recreate {
        (backend.recreate)(path).map(|(store, _)| store)
    } else {
        (backend.open)(path)
    };
    let store = match opened {
        Ok(store) => store,
        Err(e) => {
            println!("error {}: {e}", variant(&e));
            return Ok(());
        }
    };
    let key = format!("racer-{id}");
    store.set("ns", &key, payload(&key, id), options(&key, id)).await.map_err(|e| e.to_string())?;
    let row = store.get("ns", &key).await.map_err(|e| e.to_string())?.ok_or("own row missing")?;
    check_row(&key, &row)?;
    println!("opened");
    let _ = std::io::stdout().flush();
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// The name of an error's variant, for counting.
pub(crate) fn variant(e: &Error) -> &'static str {
    match e {
        Error::InvalidKey { .. } => "InvalidKey",
        Error::InvalidTtl { .. } => "InvalidTtl",
        Error::PayloadTooLarge { .. } => "PayloadTooLarge",
        Error::Corrupt { .. } => "Corrupt",
        Error::InUse { .. } => "InUse",
        Error::Unavailable { .. } => "Unavailable",
        Error::Io { .. } => "Io",
        Error::Backend { .. } => "Backend",
        Error::Incompatible { .. } => "Incompatible",
        Error::Config { .. } => "Config",
        _ => "other",
    }
}

/// Eight processes open one new file at the same moment, in rounds, without
/// and with recreate-if-corrupt. On a multi-process engine every one opens;
/// on a single-process one, at least one opens and every other gets
/// `InUse`. Never `Corrupt`, never a file moved aside, and every row a
/// process wrote is there after the race.
fn racing_opens(backend: &Backend) -> Result<(), String> {
    let dir = tempdir()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let multi = {
        let probe = dir.path().join("probe");
        (backend.open)(&probe).map_err(|e| e.to_string())?.capabilities().multi_process
    };
    let (mut opened_total, mut in_use_total) = (0u64, 0u64);
    let rounds = std::env::var("CACHESTORE_RACE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RACE_ROUNDS);
    for round in 0..rounds {
        let recreate = round % 2 == 1;
        let sub = dir.path().join(format!("race{round}"));
        std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
        let path = sub.join(backend.file_name);
        let start = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?
            + Duration::from_millis(400);
        let children: Vec<_> = (0..RACERS)
            .map(|id| {
                Command::new(&exe)
                    .args([
                        "child-race",
                        &path.display().to_string(),
                        if recreate { "1" } else { "0" },
                        &id.to_string(),
                        &start.as_millis().to_string(),
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut opened = Vec::new();
        for (id, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                return Err(format!(
                    "round {round}: racer {id} failed ({}): {stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            match stdout.trim() {
                "opened" => opened.push(id),
                line if line.starts_with("error InUse") && !multi => in_use_total += 1,
                line => {
                    return Err(format!("round {round} (recreate {recreate}): racer {id}: {line}"));
                }
            }
        }
        if opened.is_empty() || (multi && opened.len() as u64 != RACERS) {
            return Err(format!("round {round}: only racers {opened:?} opened the store"));
        }
        opened_total += opened.len() as u64;
        let entries: Vec<String> = std::fs::read_dir(&sub)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        if let Some(moved) = entries.iter().find(|name| name.contains(".corrupt-")) {
            return Err(format!("round {round}: a racer moved the live store aside: {moved}"));
        }
        runtime.block_on(async {
            let store = (backend.open)(&path).map_err(|e| format!("round {round}: {e}"))?;
            for id in &opened {
                let key = format!("racer-{id}");
                let row =
                    store.get("ns", &key).await.map_err(|e| e.to_string())?.ok_or_else(|| {
                        format!("round {round}: {key} wrote its row, now missing")
                    })?;
                check_row(&key, &row)?;
            }
            Ok::<(), String>(())
        })?;
    }
    println!(
        "  {rounds} races of {RACERS} processes (half with recreate): {opened_total} opened, \
         {in_use_total} InUse, nothing else"
    );
    Ok(())
}
