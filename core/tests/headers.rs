//! Core's headers encoding (every backend's) decodes a forged length prefix
//! into a typed error, allocating little.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cachestore_core::raw::encoding::{decode_headers, encode_headers};

/// Records the largest single allocation made while armed.
struct Tracking;

static ARMED: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only records sizes in atomics.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) == 1 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Decodes `bytes` and returns the result and the largest allocation made.
fn decode_tracked(bytes: &[u8]) -> (Result<cachestore_core::Headers, String>, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(1, Ordering::Relaxed);
    let result = decode_headers(bytes);
    ARMED.store(0, Ordering::Relaxed);
    (result, LARGEST.load(Ordering::Relaxed))
}

/// Far more than any honest decode of the inputs below needs.
const LIMIT: usize = 1024 * 1024;

#[test]
fn a_forged_entry_count_is_refused_without_allocating() {
    let forged = u32::MAX.to_le_bytes();
    let (result, largest) = decode_tracked(&forged);
    assert!(result.is_err(), "a 2^32-entry map decoded: {result:?}");
    assert!(largest < LIMIT, "decoding allocated {largest} bytes at once");
}

#[test]
fn a_forged_string_length_is_refused_without_allocating() {
    // One entry whose name claims 4 GiB, then a few bytes.
    let mut forged = 1u32.to_le_bytes().to_vec();
    forged.extend_from_slice(&u32::MAX.to_le_bytes());
    forged.extend_from_slice(b"abc");
    let (result, largest) = decode_tracked(&forged);
    assert!(result.is_err(), "{result:?}");
    assert!(largest < LIMIT, "decoding allocated {largest} bytes at once");
}

#[test]
fn real_headers_round_trip() {
    let headers: cachestore_core::Headers =
        (0..1_000).map(|i| (format!("h{i}"), "v".repeat(i % 50))).collect();
    let bytes = encode_headers(&headers);
    let (result, _) = decode_tracked(&bytes);
    assert_eq!(result.expect("decode"), headers);
}
