//! Randomised corruption of a valid store file, for any persistent backend:
//! every outcome must be a typed error or the correct rows; never a panic,
//! an abort or wrong bytes.
//!
//! The clean file holds 120 rows of 0 B to 70 KB. Each corruption is
//! reproducible from its number: bit flips, a run of random bytes, a zeroed
//! 4 KiB page, or a truncation. On the damaged copy the test opens the store
//! and runs every read (get_stale of each row, a paged scan, get_many), then
//! stats, purge, a set and a delete.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use cachestore_core::{Bytes, Entry, SetOptions, Ttl};

use crate::processes::Backend;

fn rows() -> BTreeMap<String, Bytes> {
    (0..120u32)
        .map(|i| {
            let len = [0, 10, 900, 5_000, 70_000][i as usize % 5];
            let byte = (i % 251) as u8;
            (format!("key-{i:03}"), Bytes::from(vec![byte; len]))
        })
        .collect()
}

async fn build(backend: &Backend, path: &Path) -> Result<(), String> {
    let store = (backend.open)(path).map_err(|e| e.to_string())?;
    for (key, payload) in rows() {
        let options = SetOptions::new().ttl(Ttl::Never).header("k", key.clone());
        store.set("ns", &key, payload, options).await.map_err(|e| e.to_string())?;
    }
    drop(store);
    (backend.settle)(path)
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

fn corrupt(clean: &[u8], seed: u64) -> Vec<u8> {
    let mut next = rng(seed);
    let mut bytes = clean.to_vec();
    let len = bytes.len() as u64;
    match seed % 5 {
        // Flip a few bits anywhere.
        0 | 1 => {
            for _ in 0..1 + next(8) {
                let at = next(len) as usize;
                bytes[at] ^= 1 << next(8);
            }
        }
        // Overwrite a run with random bytes.
        2 => {
            let at = next(len) as usize;
            let run = (1 + next(512) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + run] {
                *b = next(256) as u8;
            }
        }
        // Zero a whole page.
        3 => {
            let page = next(len / 4096) as usize * 4096;
            let end = (page + 4096).min(bytes.len());
            bytes[page..end].fill(0);
        }
        // Truncate.
        _ => bytes.truncate(next(len) as usize),
    }
    bytes
}

/// Every read either fails with a typed error or returns exactly the row
/// written.
async fn exercise(
    backend: &Backend,
    path: &Path,
    want: &BTreeMap<String, Bytes>,
) -> Result<usize, String> {
    let store = match (backend.open)(path) {
        Ok(store) => store,
        Err(_) => return Ok(0),
    };
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

/// Applies `count` corruptions to a clean file of `backend` and checks each
/// outcome; returns how many correct rows were read back in all.
pub fn random_corruptions(backend: &Backend, count: u64) -> Result<usize, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let clean_path = dir.path().join(backend.file_name);
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(build(backend, &clean_path))?;
    let clean = fs::read(&clean_path).map_err(|e| e.to_string())?;
    let want = rows();
    let (mut good_rows, mut failures) = (0usize, Vec::new());
    for seed in 0..count {
        let path = dir.path().join(format!("c{seed}-{}", backend.file_name));
        fs::write(&path, corrupt(&clean, seed)).map_err(|e| e.to_string())?;
        let outcome =
            catch_unwind(AssertUnwindSafe(|| runtime.block_on(exercise(backend, &path, &want))));
        match outcome {
            Ok(Ok(good)) => good_rows += good,
            Ok(Err(e)) => failures.push(format!("corruption {seed}: {e}")),
            Err(_) => failures.push(format!("corruption {seed}: panicked")),
        }
        let _ = fs::remove_file(&path);
    }
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    if good_rows == 0 {
        return Err("no corrupted file gave back any row: the test did not test".into());
    }
    Ok(good_rows)
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
