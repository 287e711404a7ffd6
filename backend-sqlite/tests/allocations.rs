//! How many heap allocations a `get` hit costs, counted by a global
//! allocator (deterministic, unlike time): the row's payload and headers
//! must be allocated, the identity it was asked for need not be.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_sqlite::SqliteStore;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_get_hit_allocates_the_row_not_the_identity() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("a.sqlite")).expect("open");
    let options = SetOptions::new().header("etag", "\"v1\"").header("content-type", "json");
    runtime
        .block_on(store.set("namespace", "some/key", Bytes::from(vec![7u8; 1000]), options))
        .expect("set");
    // Warm: the read connection and its statement cache exist.
    runtime.block_on(store.get("namespace", "some/key")).expect("get").expect("hit");
    let mut counts = Vec::new();
    for _ in 0..5 {
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        let row = runtime.block_on(store.get("namespace", "some/key"));
        COUNTING.store(false, Ordering::Relaxed);
        assert!(row.expect("get").is_some());
        counts.push(ALLOCATIONS.load(Ordering::Relaxed));
    }
    let least = counts.iter().copied().min().unwrap_or_default();
    println!("allocations per get hit: {counts:?}");
    // The payload, the headers map and its two entries (keys and values),
    // the entry: the identity it was asked for is not copied.
    assert!(least <= 9, "a get hit made {least} allocations ({counts:?})");
}
