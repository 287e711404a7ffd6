//! Whether a store's async calls leave the runtime thread free: a ticker
//! task that counts its turns while writes are awaited.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cachestore_core::{Bytes, CacheStore, SetOptions};

/// Awaits `writes` sets of 256 bytes on `store`, one after another, while
/// a ticker task on the same runtime yields in a loop; returns how many
/// times the ticker ran during the writes, and the longest it waited
/// between two turns. On a current-thread runtime, a write that blocks the
/// thread through its commit leaves the ticker at 0.
pub async fn ticks_during_writes(store: &dyn CacheStore, writes: u64) -> (u64, Duration) {
    let ticks = Arc::new(AtomicU64::new(0));
    let lag = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let ticker = {
        let (ticks, lag) = (Arc::clone(&ticks), Arc::clone(&lag));
        tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::task::yield_now().await;
                let now = Instant::now();
                let mut worst = lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *worst = (*worst).max(now - last);
                drop(worst);
                last = now;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let the ticker start, then count only what happens during the writes.
    tokio::task::yield_now().await;
    let before = ticks.load(Ordering::Relaxed);
    *lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Duration::ZERO;
    for i in 0..writes {
        let payload = Bytes::from(vec![7u8; 256]);
        store.set("ns", &format!("k{i}"), payload, SetOptions::new()).await.expect("set");
    }
    let during = ticks.load(Ordering::Relaxed) - before;
    ticker.abort();
    let worst = *lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    (during, worst)
}
