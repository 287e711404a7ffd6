//! Rows, bytes, oldest and newest row per namespace, and the file size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use cachestore::CacheStore;
use serde::Serialize;

use super::Context;
use crate::output::{Outcome, ago, scan_pages, size};

/// The arguments of `cachestore stats`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `cachestore stats`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    stats(&ctx.open_existing()?, &ctx.url, args.json).await
}

#[derive(Default, Serialize)]
struct NsStats {
    fresh: u64,
    stale: u64,
    payload_bytes: u64,
    oldest_stored_at_ms: Option<i64>,
    newest_stored_at_ms: Option<i64>,
}

fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url.split_once("://")?.1;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !url.starts_with("memory")).then(|| PathBuf::from(path))
}

async fn stats(store: &Arc<dyn CacheStore>, url: &str, json: bool) -> Outcome {
    let now = store.clock().now();
    let mut per: BTreeMap<String, NsStats> = BTreeMap::new();
    scan_pages(store, None, |items| {
        for item in items {
            let s = per.entry(item.namespace).or_default();
            if item.entry.is_fresh(now) {
                s.fresh += 1
            } else {
                s.stale += 1
            }
            s.payload_bytes += item.entry.payload.len() as u64;
            let at = cachestore_core::raw::to_unix_millis(item.entry.stored_at).ok();
            s.oldest_stored_at_ms = s.oldest_stored_at_ms.min(at).or(at);
            s.newest_stored_at_ms = s.newest_stored_at_ms.max(at);
        }
        Ok(())
    })
    .await?;
    let file_size = file_of(url).and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
    if json {
        let out = serde_json::json!({ "namespaces": per, "file_size_bytes": file_size });
        println!("{out}");
        return Ok(());
    }
    // The namespace column is as wide as the longest name shown.
    let width = per.keys().map(|ns| ns.chars().count()).max().unwrap_or(0).max(9);
    println!(
        "{:<width$} {:>8} {:>8} {:>10} {:>14} {:>14}",
        "namespace", "fresh", "stale", "payload", "oldest", "newest"
    );
    for (ns, s) in &per {
        let age = |ms: Option<i64>| {
            ms.and_then(cachestore_core::raw::from_unix_millis).map_or("-".into(), |t| ago(now, t))
        };
        println!(
            "{:<width$} {:>8} {:>8} {:>10} {:>14} {:>14}",
            ns,
            s.fresh,
            s.stale,
            size(s.payload_bytes),
            age(s.oldest_stored_at_ms),
            age(s.newest_stored_at_ms)
        );
    }
    match file_size {
        Some(n) => println!("file size: {}", size(n)),
        None => println!("file size: - (not a file store)"),
    }
    Ok(())
}
