//! Rows, bytes, dead rows, oldest and newest row per namespace, and the
//! size on disk: the store's own `stats()`, no scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use cachestore::CacheStore;
use serde::Serialize;

use super::Context;
use crate::output::{Outcome, ago, size};

/// The arguments of `cachestore stats`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `cachestore stats`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    stats(&ctx.open_existing()?, args.json).await
}

#[derive(Default, Serialize)]
struct NsStats {
    fresh: u64,
    stale: u64,
    dead: u64,
    payload_bytes: u64,
    oldest_stored_at_ms: Option<i64>,
    newest_stored_at_ms: Option<i64>,
}

fn ms(t: Option<std::time::SystemTime>) -> Option<i64> {
    t.and_then(|t| cachestore_core::raw::to_unix_millis(t).ok())
}

/// What the store's own `stats()` says (CONTRACT.md §10): counts, the
/// stored span and the size on disk come from it, without a scan.
async fn stats(store: &Arc<dyn CacheStore>, json: bool) -> Outcome {
    let now = store.clock().now();
    let stats = store.stats().await?;
    let per: BTreeMap<&str, NsStats> = stats
        .namespaces
        .iter()
        .map(|(ns, n)| {
            let s = NsStats {
                fresh: n.fresh,
                stale: n.stale,
                dead: n.dead,
                payload_bytes: n.payload_bytes,
                oldest_stored_at_ms: ms(n.oldest),
                newest_stored_at_ms: ms(n.newest),
            };
            (ns.as_str(), s)
        })
        .collect();
    if json {
        let out = serde_json::json!({
            "namespaces": per,
            "dead": stats.dead,
            "file_size_bytes": stats.disk_bytes,
            "exact": stats.exact,
        });
        println!("{out}");
        return Ok(());
    }
    // The namespace column is as wide as the longest name shown.
    let width = per.keys().map(|ns| ns.chars().count()).max().unwrap_or(0).max(9);
    println!(
        "{:<width$} {:>8} {:>8} {:>8} {:>10} {:>14} {:>14}",
        "namespace", "fresh", "stale", "dead", "payload", "oldest", "newest"
    );
    for (ns, s) in &per {
        let age = |ms: Option<i64>| {
            ms.and_then(cachestore_core::raw::from_unix_millis).map_or("-".into(), |t| ago(now, t))
        };
        println!(
            "{:<width$} {:>8} {:>8} {:>8} {:>10} {:>14} {:>14}",
            ns,
            s.fresh,
            s.stale,
            s.dead,
            size(s.payload_bytes),
            age(s.oldest_stored_at_ms),
            age(s.newest_stored_at_ms)
        );
    }
    if !stats.exact {
        println!("(estimates: this store's counts are not exact)");
    }
    match stats.disk_bytes {
        Some(n) => println!("size on disk: {} (with its -wal, -shm or log)", size(n)),
        None => println!("size on disk: - (not a file store)"),
    }
    Ok(())
}
