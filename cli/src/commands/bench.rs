//! The standard workload against the store: medians and ops/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cachestore::{Bytes, CacheStore, SetItem, SetOptions};

use super::Context;
use crate::output::{Failure, Outcome, duration, progress};

/// The arguments of `cachestore bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Operations per measurement.
    #[arg(long, default_value_t = 2000)]
    ops: u64,
    /// One JSON object: per operation, the median in nanoseconds and the
    /// rows per second.
    #[arg(long)]
    json: bool,
}

/// Runs `cachestore bench`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    bench(&ctx.open()?, args.ops, args.json).await
}

/// Times `ops` calls of `f`; returns the median per call and ops/s.
async fn measure<F, Fut>(ops: u64, mut f: F) -> Result<(Duration, f64), Failure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = cachestore::Result<()>>,
{
    let mut times = Vec::with_capacity(ops as usize);
    let started = Instant::now();
    for i in 0..ops {
        let t = Instant::now();
        f(i).await?;
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    Ok((median, ops as f64 / total.as_secs_f64().max(1e-9)))
}

async fn bench(store: &Arc<dyn CacheStore>, ops: u64, json: bool) -> Outcome {
    let ops = ops.max(10);
    let ns = format!("cachestore-bench-{}", std::process::id());
    let payload = Bytes::from(vec![0x5a; 1024]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    let bar = progress(Some(5), "benchmarking");
    let mut report = Vec::new();
    let (s, o) = (Arc::clone(store), options.clone());
    report.push((
        "set",
        measure(ops, |i| {
            let (s, p, o, ns) = (Arc::clone(&s), payload.clone(), o.clone(), ns.clone());
            async move { s.set(&ns, &format!("k{i}"), p, o).await }
        })
        .await?,
    ));
    bar.inc(1);
    report.push((
        "get hit",
        measure(ops, |i| {
            let (s, ns) = (Arc::clone(store), ns.clone());
            async move { s.get(&ns, &format!("k{i}")).await.map(drop) }
        })
        .await?,
    ));
    bar.inc(1);
    report.push((
        "get miss",
        measure(ops, |i| {
            let (s, ns) = (Arc::clone(store), ns.clone());
            async move { s.get(&ns, &format!("missing{i}")).await.map(drop) }
        })
        .await?,
    ));
    bar.inc(1);
    let batches = (ops / 100).max(1);
    let (median, per_sec) = measure(batches, |b| {
        let (s, p, o, ns) = (Arc::clone(store), payload.clone(), options.clone(), ns.clone());
        async move {
            s.set_many(
                (0..100)
                    .map(|i| SetItem::new(ns.as_str(), format!("m{b}-{i}"), p.clone(), o.clone()))
                    .collect(),
            )
            .await
        }
    })
    .await?;
    report.push(("set_many x100", (median, per_sec * 100.0)));
    bar.inc(1);
    // Removing only what it wrote is the last measurement: the user's rows,
    // dead ones included, are never touched (a purge would remove theirs).
    let written = ops + batches * 100;
    let started = Instant::now();
    let removed = store.clear_namespace(&ns).await?;
    let took = started.elapsed();
    report.push(("clear its rows", (took, removed as f64 / took.as_secs_f64().max(1e-9))));
    bar.finish_and_clear();
    if removed != written {
        eprintln!("note: {written} rows were written, {removed} removed");
    }
    if json {
        let mut out = serde_json::Map::new();
        for (name, (median, per_sec)) in &report {
            let row = serde_json::json!({
                "median_ns": median.as_nanos() as u64,
                "rows_per_second": per_sec.round() as u64,
            });
            out.insert((*name).to_owned(), row);
        }
        println!("{}", serde_json::Value::Object(out));
        return Ok(());
    }
    println!("{:<16} {:>10} {:>12}", "operation", "median", "rows/s");
    for (name, (median, per_sec)) in report {
        println!("{name:<16} {:>10} {per_sec:>12.0}", duration(median));
    }
    Ok(())
}
