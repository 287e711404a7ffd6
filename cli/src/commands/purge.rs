//! Remove dead rows.

use std::sync::Arc;

use cachestore::{CacheStore, Clock, ManualClock};

use super::Context;
use crate::output::{Outcome, progress, scan_pages};

/// The arguments of `cachestore purge`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Count them instead.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `cachestore purge`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    purge(&ctx.open_existing()?, &ctx.clock, args.dry_run).await
}

async fn purge(store: &Arc<dyn CacheStore>, clock: &ManualClock, dry_run: bool) -> Outcome {
    if dry_run {
        // Dead rows are invisible to reads. Seen from the far past every
        // row is live, so scan from there and count the rows that are dead
        // now; nothing is written.
        let now = clock.now();
        let far_past =
            cachestore_core::raw::from_unix_millis(-(1 << 60)).unwrap_or(std::time::UNIX_EPOCH);
        clock.set(far_past);
        let mut dead = 0u64;
        let counted = scan_pages(store, None, |items| {
            dead += items.iter().filter(|i| i.entry.stale_until.is_some_and(|s| s <= now)).count()
                as u64;
            Ok(())
        })
        .await;
        clock.set(now);
        counted?;
        println!("dry run: {dead} dead rows would be purged");
        return Ok(());
    }
    let bar = progress(None, "purging");
    let n = store.purge_expired().await?;
    bar.finish_and_clear();
    println!("purged {n} dead rows");
    Ok(())
}
