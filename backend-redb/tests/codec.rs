//! The header codec decodes only from slices with a size limit: a forged
//! length prefix is a typed error, and decoding it allocates little.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cachestore_redb::{Bincode, HeaderCodec};

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
    let result = Bincode.decode(bytes);
    ARMED.store(0, Ordering::Relaxed);
    (result, LARGEST.load(Ordering::Relaxed))
}

const LIMIT: usize = 16 * 1024 * 1024;

#[test]
fn a_forged_map_length_of_2_pow_60_is_refused_without_allocating() {
    // bincode's varint: 0xfd then a u64, little-endian.
    let mut forged = vec![0xfd];
    forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let (result, largest) = decode_tracked(&forged);
    assert!(result.is_err(), "a 2^60-entry map decoded: {result:?}");
    assert!(largest < LIMIT, "decoding allocated {largest} bytes at once");
}

#[test]
fn a_forged_string_length_is_refused_without_allocating() {
    // One entry whose name claims 2^60 bytes.
    let mut forged = vec![1, 0xfd];
    forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
    forged.extend_from_slice(b"abc");
    let (result, largest) = decode_tracked(&forged);
    assert!(result.is_err(), "{result:?}");
    assert!(largest < LIMIT, "decoding allocated {largest} bytes at once");
    // Just over the limit, and plausible: still refused, still small.
    let mut forged = vec![1, 0xfd];
    forged.extend_from_slice(&((LIMIT as u64) + 1).to_le_bytes());
    let (result, largest) = decode_tracked(&forged);
    assert!(result.is_err(), "{result:?}");
    assert!(largest < LIMIT, "decoding allocated {largest} bytes at once");
}

#[test]
fn real_headers_round_trip() {
    let headers: cachestore_core::Headers =
        (0..1_000).map(|i| (format!("h{i}"), "v".repeat(i % 50))).collect();
    let mut bytes = Vec::new();
    Bincode.encode(&headers, &mut bytes).expect("encode");
    let (result, _) = decode_tracked(&bytes);
    assert_eq!(result.expect("decode"), headers);
}
