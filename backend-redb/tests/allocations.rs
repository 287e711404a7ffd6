//! How many bytes a durable `set` allocates, counted by a global allocator
//! (deterministic, unlike time), in payloads.
//!
//! - 1 MiB: over the log's direct limit, so checkpointed straight to redb.
//!   All 3.05 payloads are redb's: `insert_reserve` fills a buffer of the
//!   value's length, and the value's page is a 2 MiB one. Building the log
//!   record it never writes used to cost two more (4.05).
//! - 256 KiB: through the log. The record borrows the payload and is
//!   written with one vectored write, so the payload is not copied into it
//!   (3.09 payloads; 4.09 when the record was one buffer).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_redb::RedbStore;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated by each of four durable sets of `size` bytes (after a
/// warm-up set), in payloads.
fn payloads_per_set(size: usize) -> Vec<f64> {
    // One count at a time: the counter is global, the tests run in threads.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path().join("a.redb")).expect("open");
    let options = || SetOptions::new().header("etag", "\"v1\"");
    let payload = Bytes::from(vec![7u8; size]);
    // Warm: the tables, the log and redb's caches exist.
    runtime.block_on(store.set("ns", "warm", payload.clone(), options())).expect("set");
    let mut counts = Vec::new();
    for i in 0..4 {
        let key = format!("k{i}");
        BYTES.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        let done = runtime.block_on(store.set("ns", &key, payload.clone(), options()));
        COUNTING.store(false, Ordering::Relaxed);
        done.expect("set");
        counts.push(BYTES.load(Ordering::Relaxed) as f64 / size as f64);
    }
    counts
}

#[test]
fn a_durable_one_mib_set_allocates_no_log_record_it_does_not_write() {
    let counts = payloads_per_set(1 << 20);
    let least = counts.iter().copied().fold(f64::MAX, f64::min);
    println!("bytes allocated per durable 1 MiB set, in payloads: {counts:.2?}");
    assert!(
        least <= LARGE_BOUND,
        "a durable 1 MiB set allocated {least:.2} payloads ({counts:.2?})"
    );
}

#[test]
fn a_durable_logged_set_copies_its_payload_into_no_record() {
    // 256 KiB: under the log's direct limit, so written through the log.
    let counts = payloads_per_set(256 << 10);
    let least = counts.iter().copied().fold(f64::MAX, f64::min);
    println!("bytes allocated per durable 256 KiB set, in payloads: {counts:.2?}");
    assert!(
        least <= LOGGED_BOUND,
        "a durable 256 KiB set allocated {least:.2} payloads ({counts:.2?})"
    );
}

const LARGE_BOUND: f64 = 3.1;
const LOGGED_BOUND: f64 = 3.2;
