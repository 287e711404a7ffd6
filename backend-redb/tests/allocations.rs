//! How many bytes a durable 1 MiB `set` allocates, counted by a global
//! allocator (deterministic, unlike time). A 1 MiB value is over the log's
//! direct limit, so it is checkpointed straight to redb: the encoded value,
//! redb's page and redb's commit each hold a copy (3.05 payloads). Building
//! the log record it never writes used to cost two more (4.05).

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

#[test]
fn a_durable_one_mib_set_allocates_no_log_record_it_does_not_write() {
    const MIB: usize = 1 << 20;
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path().join("a.redb")).expect("open");
    let options = || SetOptions::new().header("etag", "\"v1\"");
    let payload = Bytes::from(vec![7u8; MIB]);
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
        counts.push(BYTES.load(Ordering::Relaxed) as f64 / MIB as f64);
    }
    let least = counts.iter().copied().fold(f64::MAX, f64::min);
    println!("bytes allocated per durable 1 MiB set, in payloads: {counts:.2?}");
    assert!(least <= 3.1, "a durable 1 MiB set allocated {least:.2} payloads ({counts:.2?})");
}
