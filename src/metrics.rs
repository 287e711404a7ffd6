//! The [`Cache`]'s counters for the `metrics` crate (feature
//! `metrics`): whatever recorder the application installed (Prometheus,
//! StatsD, …) gets them.

use crate::cache::Cache;
use crate::codec::ValueCodec;

/// The counters, by the name each is published under (with a `namespace`
/// label); see [`Counters`](crate::Counters) for what each counts.
pub const COUNTER_NAMES: [&str; 11] = [
    "cachestore_hits_total",
    "cachestore_misses_total",
    "cachestore_stale_served_total",
    "cachestore_negative_hits_total",
    "cachestore_revalidations_total",
    "cachestore_fetches_total",
    "cachestore_fetch_errors_total",
    "cachestore_store_errors_total",
    "cachestore_sets_total",
    "cachestore_refused_writes_total",
    "cachestore_decode_errors_total",
];

impl<C: ValueCodec> Cache<C> {
    /// Publishes every namespace's counters to the installed `metrics`
    /// recorder: the counters of [`COUNTER_NAMES`] at their absolute values,
    /// and the gauges `cachestore_fetch_latency_p50_seconds` and
    /// `…_p99_seconds`, each labelled with `namespace`. Call it now and
    /// then (from a timer, before a scrape); each call publishes the values
    /// as they are.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cachestore::Result<()> {
    /// use std::time::Duration;
    ///
    /// let cache = cachestore::Cache::new(cachestore::open("memory://")?);
    /// let exporter = cache.clone();
    /// tokio::spawn(async move {
    ///     let mut every = tokio::time::interval(Duration::from_secs(10));
    ///     loop {
    ///         every.tick().await;
    ///         exporter.export_metrics();
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn export_metrics(&self) {
        for (namespace, c) in self.all_counters() {
            let values = [
                c.hits,
                c.misses,
                c.stale_served,
                c.negative_hits,
                c.revalidations,
                c.fetches,
                c.fetch_errors,
                c.store_errors,
                c.sets,
                c.refused_writes,
                c.decode_errors,
            ];
            for (name, value) in COUNTER_NAMES.iter().zip(values) {
                metrics::counter!(*name, "namespace" => namespace.clone()).absolute(value);
            }
            if let Some(p50) = c.fetch_p50 {
                metrics::gauge!("cachestore_fetch_latency_p50_seconds", "namespace" => namespace.clone())
                    .set(p50.as_secs_f64());
            }
            if let Some(p99) = c.fetch_p99 {
                metrics::gauge!("cachestore_fetch_latency_p99_seconds", "namespace" => namespace.clone())
                    .set(p99.as_secs_f64());
            }
        }
    }
}
