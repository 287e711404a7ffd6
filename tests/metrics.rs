//! `Cache::export_metrics` hands the counters to the installed `metrics`
//! recorder, labelled by namespace, at their values.
#![cfg(feature = "metrics")]

use std::time::Duration;

use cachestore::{Cache, FetchPolicy};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test]
async fn the_counters_reach_the_metrics_recorder() {
    let cache = Cache::new(cachestore::open("memory://").expect("open"));
    let policy = FetchPolicy::new(Duration::from_secs(60));
    for _ in 0..3 {
        cache
            .get_or_fetch("movies", "603", &policy, || async { Ok::<_, String>(1u8) })
            .await
            .expect("value");
    }
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || cache.export_metrics());
    let mut seen = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> =
            key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        assert_eq!(labels, vec!["namespace=movies".to_owned()], "{key:?}");
        seen.insert(key.key().name().to_owned(), value);
    }
    assert_eq!(seen.get("cachestore_hits_total"), Some(&DebugValue::Counter(2)));
    assert_eq!(seen.get("cachestore_misses_total"), Some(&DebugValue::Counter(1)));
    assert_eq!(seen.get("cachestore_fetches_total"), Some(&DebugValue::Counter(1)));
    assert_eq!(seen.get("cachestore_sets_total"), Some(&DebugValue::Counter(1)));
    assert!(seen.contains_key("cachestore_fetch_latency_p50_seconds"), "{seen:?}");
    assert_eq!(seen.len(), cachestore::metrics::COUNTER_NAMES.len() + 2);
}
