//! List rows, with their expiry for people.

use std::io::Write;
use std::sync::Arc;

use cachestore::CacheStore;

use super::Context;
use crate::output::{Failure, Outcome, expiry, scan_pages, size};

/// The arguments of `cachestore ls`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only this namespace.
    ns: Option<String>,
    /// Only keys starting with this.
    #[arg(long)]
    prefix: Option<String>,
    /// JSON Lines: one object per row (namespace, key, payload_bytes,
    /// stored_at_ms, expires_at_ms, stale_until_ms, fresh).
    #[arg(long)]
    json: bool,
}

/// Runs `cachestore ls`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    ls(&ctx.open_existing()?, args.ns.as_deref(), args.prefix.as_deref(), args.json).await
}

async fn ls(
    store: &Arc<dyn CacheStore>,
    ns: Option<&str>,
    prefix: Option<&str>,
    json: bool,
) -> Outcome {
    let now = store.clock().now();
    let mut out = std::io::stdout().lock();
    scan_pages(store, ns, |items| {
        for item in items {
            if prefix.is_some_and(|p| !item.key.starts_with(p)) {
                continue;
            }
            let written = if json {
                let ms = |t| cachestore_core::raw::to_unix_millis(t).ok();
                let row = serde_json::json!({
                    "namespace": item.namespace,
                    "key": item.key,
                    "payload_bytes": item.entry.payload.len(),
                    "stored_at_ms": ms(item.entry.stored_at),
                    "expires_at_ms": item.entry.expires_at.and_then(ms),
                    "stale_until_ms": item.entry.stale_until.and_then(ms),
                    "fresh": item.entry.is_fresh(now),
                });
                writeln!(out, "{row}")
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    item.namespace,
                    item.key,
                    size(item.entry.payload.len() as u64),
                    expiry(&item.entry, now)
                )
            };
            written.map_err(|e| Failure::output("to stdout", e))?;
        }
        Ok(())
    })
    .await
}
