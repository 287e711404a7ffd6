//! Randomised corruption of a valid store, for any persistent backend:
//! every outcome must be a typed error or true rows; never a panic, an
//! abort, a hang, wrong bytes or a row under another key.
//!
//! The store holds 120 rows of 0 B to 70 KB, as a crash leaves it (its files
//! copied while it is open, so its companions, a write-ahead log say, hold
//! recent writes). Each corruption is reproducible from its number: bit
//! flips, bit flips inside a stored key, a run of random bytes, a zeroed
//! page, two pages swapped, or a truncation, in the main file or in a
//! companion. Each damaged copy is opened in a child process, which runs
//! every read (get_stale of each row, a paged scan, get_many), then stats,
//! purge, a set and a delete. When the open is refused as corrupt, a second
//! child opens it with recreate-if-corrupt, and every byte of the refused
//! files must be found in the files moved aside.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use cachestore_core::{Bytes, Entry, SetOptions, Ttl};

use cachestore_core::raw::files::sidecar;

use crate::processes::{Backend, store_files, variant, write_store_files};

fn rows() -> BTreeMap<String, Bytes> {
    (0..120u32)
        .map(|i| {
            let len = [0, 10, 900, 5_000, 70_000][i as usize % 5];
            let byte = (i % 251) as u8;
            (format!("key-{i:03}"), Bytes::from(vec![byte; len]))
        })
        .collect()
}

/// Writes the rows into a new store at `path` and returns its files as a
/// crash leaves them: copied while the store is open.
async fn crash_image(backend: &Backend, path: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let store = (backend.open)(path).map_err(|e| e.to_string())?;
    for (key, payload) in rows() {
        let options = SetOptions::new().ttl(Ttl::Never).header("k", key.clone());
        store.set("ns", &key, payload, options).await.map_err(|e| e.to_string())?;
    }
    let files = store_files(backend, path)?;
    drop(store);
    Ok(files)
}

/// A tiny xorshift so that each corruption is reproducible from its number.
fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move |n| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n.max(1)
    }
}

/// Damages one file of a store (chosen by `seed`) in one of seven ways.
fn damage(clean: &[(String, Vec<u8>)], seed: u64) -> (Vec<(String, Vec<u8>)>, String) {
    let mut next = rng(seed);
    let mut files = clean.to_vec();
    // A third of the damage goes to the companions, when there are any.
    let which = if files.len() > 1 && next(3) == 0 { 1 + next(files.len() as u64 - 1) } else { 0 };
    let (suffix, bytes) = &mut files[which as usize];
    let len = bytes.len() as u64;
    let page = |next: &mut dyn FnMut(u64) -> u64| next((len / 4096).max(1)) as usize * 4096;
    let what = match seed % 7 {
        _ if bytes.is_empty() => "nothing (an empty file)".to_owned(),
        // Flip a few bits anywhere.
        0 => {
            for _ in 0..1 + next(8) {
                let at = next(len) as usize;
                bytes[at] ^= 1 << next(8);
            }
            "bit flips".into()
        }
        // Flip a bit inside a stored key (`key-NNN`): the row would sit under
        // another key.
        1 => {
            let places: Vec<usize> = bytes
                .windows(4)
                .enumerate()
                .filter(|(_, w)| w == b"key-")
                .map(|(i, _)| i)
                .collect();
            if places.is_empty() {
                bytes[next(len) as usize] ^= 1;
                "a bit flip (no stored key in this file)".into()
            } else {
                let at = places[next(places.len() as u64) as usize] + 4 + next(3) as usize;
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << next(3);
                }
                "a bit flip inside a stored key".into()
            }
        }
        // Overwrite a run with random bytes.
        2 => {
            let at = next(len) as usize;
            let run = (1 + next(512) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + run] {
                *b = next(256) as u8;
            }
            "a run of random bytes".into()
        }
        // Zero a whole page.
        3 => {
            let at = page(&mut next);
            let end = (at + 4096).min(bytes.len());
            bytes[at..end].fill(0);
            "a zeroed page".into()
        }
        // Swap two pages.
        4 => {
            let (a, b) = (page(&mut next), page(&mut next));
            let n = 4096.min(bytes.len().saturating_sub(a.max(b)));
            if a != b && n > 0 {
                let first = bytes[a..a + n].to_vec();
                bytes.copy_within(b..b + n, a);
                bytes[b..b + n].copy_from_slice(&first);
            }
            "two pages swapped".into()
        }
        // Truncate.
        5 => {
            bytes.truncate(next(len) as usize);
            "a truncation".into()
        }
        // Zero a short range, as a lost sector write leaves it.
        _ => {
            let at = next(len) as usize;
            let end = (at + 1 + next(600) as usize).min(bytes.len());
            bytes[at..end].fill(0);
            "a zeroed range".into()
        }
    };
    let described = format!("{what} in the file{}", if suffix.is_empty() { "" } else { &**suffix });
    (files, described)
}

/// Every read either fails with a typed error or returns exactly the row
/// written under its key; `Err` names a wrong row.
async fn exercise(
    store: &dyn cachestore_core::CacheStore,
    want: &BTreeMap<String, Bytes>,
) -> Result<usize, String> {
    let mut good = 0;
    let check = |key: &str, entry: &Entry| -> Result<(), String> {
        let payload =
            want.get(key).ok_or_else(|| format!("a row that was never written: {key:?}"))?;
        if entry.payload != payload || entry.headers.get("k").map(String::as_str) != Some(key) {
            return Err(format!("wrong bytes returned for {key}"));
        }
        Ok(())
    };
    for key in want.keys() {
        if let Ok(Some(entry)) = store.get_stale("ns", key).await {
            check(key, &entry)?;
            good += 1;
        }
    }
    let mut cursor = None;
    for _ in 0..1_000 {
        match store.scan(None, cursor.as_ref(), 17).await {
            Ok(page) => {
                for item in &page.items {
                    check(&item.key, &item.entry)?;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(_) => break,
        }
    }
    let keys: Vec<(&str, &str)> = want.keys().map(|k| ("ns", k.as_str())).collect();
    if let Ok(many) = store.get_many(&keys).await {
        for (key, entry) in want.keys().zip(many) {
            if let Some(entry) = entry {
                check(key, &entry)?;
            }
        }
    }
    let _ = store.stats().await;
    let _ = store.purge_expired().await;
    let _ = store.set("ns", "new", Bytes::from_static(b"after"), SetOptions::new()).await;
    let _ = store.delete("ns", "key-001").await;
    Ok(good)
}

/// The child process of the campaign: opens the damaged store at `path`
/// and reads everything; prints `opened <correct rows>` or `refused
/// <variant>: <error>`, and fails on a wrong row.
pub(crate) async fn child_damaged(backend: &Backend, path: &Path) -> Result<(), String> {
    match (backend.open)(path) {
        Ok(store) => {
            let good = exercise(store.as_ref(), &rows()).await?;
            println!("opened {good}");
        }
        Err(e) => println!("refused {}: {e}", variant(&e)),
    }
    Ok(())
}

/// The child process that recreates a refused store: prints `moved <path>`
/// or `kept`.
pub(crate) fn child_recreate(backend: &Backend, path: &Path) -> Result<(), String> {
    let (store, moved) = (backend.recreate)(path).map_err(|e| format!("recreate: {e}"))?;
    drop(store);
    match moved {
        Some(moved) => println!("moved {}", moved.display()),
        None => println!("kept"),
    }
    Ok(())
}

/// How a child process ended.
enum Ended {
    Exited(std::process::Output),
    Panicked(String),
    Aborted(String),
    Hung,
}

/// Runs the test binary as `args`, killed after `limit`.
fn child(args: &[&str], limit: std::time::Duration) -> Result<Ended, String> {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::Hung);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(match (out.status.code(), out.status.signal()) {
        (Some(101), _) => Ended::Panicked(stderr),
        (_, Some(signal)) => Ended::Aborted(format!("signal {signal}: {stderr}")),
        _ => Ended::Exited(out),
    })
}

/// The default number of corruptions; `CACHESTORE_CORRUPTIONS` sets another.
const CORRUPTIONS: u64 = 1_000;

/// The campaign (see the module's docs): fails on any wrong row, panic,
/// abort or hang, and when a recreated store lost a byte of the refused one.
pub(crate) fn campaign(backend: &Backend) -> Result<(), String> {
    let count = std::env::var("CACHESTORE_CORRUPTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CORRUPTIONS);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let clean_path = dir.path().join(backend.file_name);
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    let clean = runtime.block_on(crash_image(backend, &clean_path))?;
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let (mut opened, mut good_rows, mut recreated) = (0u64, 0usize, 0u64);
    let mut failures = Vec::new();
    let limit = std::time::Duration::from_secs(30);
    for seed in 0..count {
        let case = dir.path().join(format!("case{seed}"));
        fs::create_dir(&case).map_err(|e| e.to_string())?;
        let path = case.join(backend.file_name);
        let (files, what) = damage(&clean, seed);
        write_store_files(&path, &files)?;
        let at = format!("corruption {seed} ({what})");
        let path_arg = path.display().to_string();
        match child(&["child-damaged", &path_arg], limit)? {
            Ended::Exited(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let line = stdout.lines().last().unwrap_or_default();
                if !out.status.success() {
                    failures.push(format!("{at}: {}", String::from_utf8_lossy(&out.stderr)));
                } else if let Some(good) = line.strip_prefix("opened ") {
                    opened += 1;
                    good_rows += good.parse::<usize>().unwrap_or(0);
                } else if let Some(kind) = line.strip_prefix("refused ") {
                    let variant = kind.split(':').next().unwrap_or_default().to_owned();
                    *refused.entry(variant.clone()).or_default() += 1;
                    if variant != "Corrupt" {
                        println!("  {at}: refused as {kind}");
                    }
                    if variant == "Corrupt" {
                        match recreate_keeps_every_byte(backend, &path, limit) {
                            Ok(()) => recreated += 1,
                            Err(e) => failures.push(format!("{at}: {e}")),
                        }
                    }
                } else {
                    failures.push(format!("{at}: the child said {stdout:?}"));
                }
            }
            Ended::Panicked(stderr) => failures.push(format!("{at}: PANIC {stderr}")),
            Ended::Aborted(why) => failures.push(format!("{at}: ABORT {why}")),
            Ended::Hung => failures.push(format!("{at}: HANG (over {limit:?})")),
        }
        let _ = fs::remove_dir_all(&case);
    }
    let typed: u64 = refused.values().sum();
    println!(
        "  {count} corruptions: {opened} opened ({good_rows} correct rows read), {typed} refused \
         with a typed error {refused:?} ({recreated} recreated, every byte kept), {} failures \
         (wrong rows, panics, aborts, hangs)",
        failures.len()
    );
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    if good_rows == 0 || typed == 0 {
        return Err(
            "no corrupted file gave back a row, or none was refused: the test did not test".into(),
        );
    }
    Ok(())
}

/// Recreates the refused store at `path` in a child process; every file of
/// it, byte for byte as it was, must be found where it was moved.
fn recreate_keeps_every_byte(
    backend: &Backend,
    path: &Path,
    limit: std::time::Duration,
) -> Result<(), String> {
    let before = store_files(backend, path)?;
    let out = match child(&["child-recreate", &path.display().to_string()], limit)? {
        Ended::Exited(out) if out.status.success() => out,
        Ended::Exited(out) => {
            return Err(format!("recreate failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ended::Panicked(e) => return Err(format!("recreate PANIC {e}")),
        Ended::Aborted(e) => return Err(format!("recreate ABORT {e}")),
        Ended::Hung => return Err("recreate HANG".into()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let moved = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("moved "))
        .ok_or_else(|| format!("recreate moved nothing: {stdout:?}"))?;
    for (suffix, bytes) in &before {
        let moved = sidecar(Path::new(moved), suffix);
        let kept = fs::read(&moved).map_err(|e| format!("{}: {e}", moved.display()))?;
        if &kept != bytes {
            return Err(format!("{} differs from the refused file{suffix}", moved.display()));
        }
    }
    Ok(())
}

/// One flipped byte in the middle of a stored payload (which the engine
/// itself may not notice): the row reads as `Error::Corrupt` naming the
/// checksum, never as wrong bytes; other rows still read; and the backend's
/// deep check ([`Backend::verify`]) reports the file as damaged.
pub fn flipped_payload_byte(backend: &Backend) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(backend.file_name);
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = (backend.open)(&path).map_err(|e| e.to_string())?;
        for i in 0..10u8 {
            let payload = Bytes::from(vec![i; 3000]);
            store
                .set("ns", &format!("k{i}"), payload, SetOptions::new())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })?;
    (backend.settle)(&path)?;
    let mut bytes = fs::read(&path).map_err(|e| e.to_string())?;
    let needle = vec![5u8; 3000];
    let at =
        bytes.windows(3000).position(|w| w == &needle[..]).ok_or("the payload is not on disk")?;
    bytes[at + 1500] ^= 0x40;
    fs::write(&path, &bytes).map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store =
            (backend.open)(&path).map_err(|e| format!("the damaged file does not open: {e}"))?;
        match store.get("ns", "k5").await {
            Err(cachestore_core::Error::Corrupt { detail, .. }) if detail.contains("checksum") => {}
            other => {
                return Err(format!(
                    "a damaged row read as {:?}, not Error::Corrupt (checksum)",
                    other.map(|e| e.map(|e| e.payload.len()))
                ));
            }
        }
        match store.get("ns", "k4").await {
            Ok(Some(row)) if row.payload[..] == [4u8; 3000][..] => Ok(()),
            other => Err(format!(
                "an undamaged row read as {:?}",
                other.map(|e| e.map(|e| e.payload.len()))
            )),
        }
    })?;
    // The deep check opens the file itself: every handle above is closed.
    match (backend.verify)(&path) {
        Err(_) => Ok(()),
        Ok(()) => Err("the deep check passed a file with a damaged row".into()),
    }
}
