//! Per-namespace counters of a [`Cache`](crate::Cache).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a [`Cache`](crate::Cache) did for one namespace, counted since it was
/// built. Each call counts once, under the outcome its caller saw.
/// `Serialize`/`Deserialize` with the `serde` feature.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Fresh values returned from the store.
    pub hits: u64,
    /// Calls that found no usable value in the store (a miss, or a stale
    /// value that had to be fetched again).
    pub misses: u64,
    /// Stale values returned (stale-if-error, stale-while-revalidate, soft
    /// timeout).
    pub stale_served: u64,
    /// Cached failures returned without calling the fetcher (negative
    /// caching).
    pub negative_hits: u64,
    /// Fetches the upstream answered "not modified": the stored value was
    /// renewed and returned.
    pub revalidations: u64,
    /// Times a fetcher was called (foreground and background).
    pub fetches: u64,
    /// Fetches that failed (an error, a hard timeout, a fetcher that
    /// panicked in the background).
    pub fetch_errors: u64,
    /// Store reads or writes that failed. Unless the cache was built with
    /// `store_errors_fatal`, the call went on without the store.
    pub store_errors: u64,
    /// Rows written (values and cached failures).
    pub sets: u64,
    /// Values the write guard refused to store (they were still returned).
    pub refused_writes: u64,
    /// Stored values that failed to decode (treated as misses).
    pub decode_errors: u64,
    /// The median fetch latency, `None` before the first fetch. Approximate:
    /// the upper bound of a quarter-octave bucket (at most 19% high).
    pub fetch_p50: Option<Duration>,
    /// The 99th percentile fetch latency, as [`Counters::fetch_p50`].
    pub fetch_p99: Option<Duration>,
}

/// Quarter-octave buckets of microseconds: bucket `i` holds latencies up to
/// `2^(i/4)` µs; 160 buckets reach past 300 hours.
const BUCKETS: usize = 160;

pub(crate) struct AtomicCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) negative_hits: AtomicU64,
    pub(crate) revalidations: AtomicU64,
    pub(crate) fetches: AtomicU64,
    pub(crate) fetch_errors: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) sets: AtomicU64,
    pub(crate) refused_writes: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for AtomicCounters {
    fn default() -> Self {
        AtomicCounters {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            negative_hits: AtomicU64::new(0),
            revalidations: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            fetch_errors: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            sets: AtomicU64::new(0),
            refused_writes: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn bucket_of(latency: Duration) -> usize {
    let us = latency.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    // The smallest i with 2^(i/4) >= us.
    let i = (us.log2() * 4.0).ceil();
    if i >= (BUCKETS - 1) as f64 { BUCKETS - 1 } else { i as usize }
}

fn bucket_bound(i: usize) -> Duration {
    Duration::from_secs_f64(2f64.powf(i as f64 / 4.0) / 1e6)
}

impl AtomicCounters {
    /// Records one fetch's latency.
    pub(crate) fn fetched_in(&self, latency: Duration) {
        self.latency[bucket_of(latency)].fetch_add(1, Ordering::Relaxed);
    }

    fn percentile(counts: &[u64], total: u64, fraction: f64) -> Option<Duration> {
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_bound(i));
            }
        }
        Some(bucket_bound(BUCKETS - 1))
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counts: Vec<u64> = self.latency.iter().map(load).collect();
        let total = counts.iter().sum();
        Counters {
            hits: load(&self.hits),
            misses: load(&self.misses),
            stale_served: load(&self.stale_served),
            negative_hits: load(&self.negative_hits),
            revalidations: load(&self.revalidations),
            fetches: load(&self.fetches),
            fetch_errors: load(&self.fetch_errors),
            store_errors: load(&self.store_errors),
            sets: load(&self.sets),
            refused_writes: load(&self.refused_writes),
            decode_errors: load(&self.decode_errors),
            fetch_p50: Self::percentile(&counts, total, 0.50),
            fetch_p99: Self::percentile(&counts, total, 0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_land_within_a_bucket_of_the_truth() {
        let c = AtomicCounters::default();
        assert_eq!(c.snapshot().fetch_p50, None);
        // 1..=1000 ms: p50 500 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            c.fetched_in(Duration::from_millis(ms));
        }
        let s = c.snapshot();
        let p50 = s.fetch_p50.expect("p50").as_secs_f64();
        let p99 = s.fetch_p99.expect("p99").as_secs_f64();
        assert!((0.5..=0.5 * 1.19).contains(&p50), "p50 {p50}");
        assert!((0.99..=0.99 * 1.19).contains(&p99), "p99 {p99}");
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert_eq!(bucket_of(Duration::from_secs(u64::MAX / 4)), BUCKETS - 1);
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn counters_round_trip_through_json() {
        let counters = Counters {
            hits: 3,
            misses: 1,
            fetch_p50: Some(Duration::from_millis(12)),
            ..Counters::default()
        };
        let json = serde_json::to_string(&counters).expect("serialize");
        assert!(json.contains("\"hits\":3"), "{json}");
        assert_eq!(serde_json::from_str::<Counters>(&json).expect("deserialize"), counters);
    }
}
