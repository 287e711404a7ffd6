//! List rows, with their expiry for people.

use std::io::Write;
use std::sync::Arc;

use cachestore::CacheStore;

use super::Context;
use crate::output::{Failure, Outcome, expiry, scan_pages};

/// The arguments of `cachestore ls`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only this namespace.
    ns: Option<String>,
    /// Only keys starting with this.
    #[arg(long)]
    prefix: Option<String>,
}

/// Runs `cachestore ls`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    ls(&ctx.open_existing()?, args.ns.as_deref(), args.prefix.as_deref()).await
}

async fn ls(store: &Arc<dyn CacheStore>, ns: Option<&str>, prefix: Option<&str>) -> Outcome {
    let now = store.clock().now();
    let mut out = std::io::stdout().lock();
    scan_pages(store, ns, |items| {
        for item in items {
            if prefix.is_some_and(|p| !item.key.starts_with(p)) {
                continue;
            }
            writeln!(
                out,
                "{}\t{}\t{} B\t{}",
                item.namespace,
                item.key,
                item.entry.payload.len(),
                expiry(&item.entry, now)
            )
            .map_err(|e| Failure::output("to stdout", e))?;
        }
        Ok(())
    })
    .await
}
