//! Print a row's payload to stdout.

use std::io::Write;
use std::sync::Arc;

use cachestore::CacheStore;

use super::Context;
use crate::output::{Failure, Outcome, ago, date, expiry, size};

/// The arguments of `cachestore get`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Namespace.
    ns: String,
    /// Key.
    key: String,
    /// Also print the headers and times (to stderr).
    #[arg(long)]
    meta: bool,
    /// Return a stale row too.
    #[arg(long)]
    stale: bool,
}

/// Runs `cachestore get`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    get(&ctx.open_existing()?, &args.ns, &args.key, args.meta, args.stale).await
}

async fn get(store: &Arc<dyn CacheStore>, ns: &str, key: &str, meta: bool, stale: bool) -> Outcome {
    let entry = if stale { store.get_stale(ns, key).await? } else { store.get(ns, key).await? };
    let Some(entry) = entry else {
        let hint = if stale { None } else { Some("add --stale to see a stale row") };
        return Err(Failure { code: 3, message: format!("no fresh row ({ns:?}, {key:?})"), hint });
    };
    if meta {
        let now = store.clock().now();
        let when = |t: Option<std::time::SystemTime>| t.map_or_else(|| "never".into(), date);
        eprintln!("stored:      {} ({})", date(entry.stored_at), ago(now, entry.stored_at));
        eprintln!("expires:     {} ({})", when(entry.expires_at), expiry(&entry, now));
        eprintln!("stale until: {}", when(entry.stale_until));
        eprintln!("size:        {}", size(entry.payload.len() as u64));
        if entry.headers.contains_key(cachestore::NEGATIVE_HEADER) {
            eprintln!("kind:        a cached failure (negative caching); the payload is its text");
        }
        // cachestore's own bookkeeping (codec, negative marker) is not the row's.
        for (k, v) in entry.headers.iter().filter(|(k, _)| !cachestore::is_internal_header(k)) {
            eprintln!("header: {k}: {v}");
        }
    }
    std::io::stdout()
        .write_all(&entry.payload)
        .and_then(|()| std::io::stdout().flush())
        .map_err(|e| Failure::output("to stdout", e))
}
