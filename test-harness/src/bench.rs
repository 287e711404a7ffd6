//! Helpers for backends' criterion benchmarks against their raw engines.

use std::path::PathBuf;

/// Where criterion writes its estimates: `$CRITERION_HOME`, else the
/// `criterion` folder of the target directory the running benchmark was
/// built in (`<target>/release/deps/<bench>`), wherever that is.
fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.ancestors().nth(3)?.join("criterion"))
}

/// Criterion's median estimate of `group/function` from the last run, in
/// nanoseconds.
pub fn median(group: &str, function: &str) -> Option<f64> {
    let file = criterion_home()?.join(group).join(function).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints a table of `store` / `raw` median ratios, one row per group,
/// with the target next to each.
pub fn print_ratio_table(title: &str, rows: &[(&str, &str)]) {
    println!("\n{title}, criterion medians (lower ratio is better)");
    println!("{:<26} {:>14} {:>14} {:>8} {:>10}", "operation", "store", "raw", "ratio", "target");
    for (group, target) in rows {
        if let (Some(s), Some(r)) = (median(group, "store"), median(group, "raw")) {
            println!(
                "{group:<26} {:>12.1}µs {:>12.1}µs {:>7.2}x {target:>10}",
                s / 1e3,
                r / 1e3,
                s / r
            );
        }
    }
}

/// Prints a throughput row: `writes` per iteration, raw / store time.
pub fn print_throughput_row(group: &str, writes: f64, target: &str) {
    if let (Some(s), Some(r)) = (median(group, "store"), median(group, "raw")) {
        println!(
            "{group:<26} {:>10.0}w/s {:>10.0}w/s {:>7.2}x {target:>10}",
            writes / (s / 1e9),
            writes / (r / 1e9),
            r / s
        );
    }
}

/// One iteration of the concurrent-writers benchmark: `writers` tasks on
/// `runtime`, each setting `per_writer` rows of `payload` (fresh for a
/// minute) on `store`.
pub fn concurrent_sets<S: cachestore_core::CacheStore>(
    runtime: &tokio::runtime::Runtime,
    store: &std::sync::Arc<S>,
    writers: usize,
    per_writer: usize,
    payload: &cachestore_core::Bytes,
) {
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (store, payload) = (std::sync::Arc::clone(store), payload.clone());
                tokio::spawn(async move {
                    for i in 0..per_writer {
                        let options = cachestore_core::SetOptions::for_duration(
                            std::time::Duration::from_secs(60),
                        );
                        store
                            .set("bench", &format!("w{w}-{i}"), payload.clone(), options)
                            .await
                            .expect("set");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a writer task");
        }
    });
}

/// The raw side of [`concurrent_sets`]: `writers` threads, each opening its
/// own handle with `open` and writing the same keys through `write`.
pub fn concurrent_raw_sets<H>(
    writers: usize,
    per_writer: usize,
    open: impl Fn() -> H + Sync,
    write: impl Fn(&H, &str) + Sync,
) {
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (open, write) = (&open, &write);
            scope.spawn(move || {
                let handle = open();
                for i in 0..per_writer {
                    write(&handle, &format!("w{w}-{i}"));
                }
            });
        }
    });
}
