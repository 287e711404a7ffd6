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
    /// Print the row as one JSON object instead: every field, the payload in
    /// base64 (an `export` line), its version and whether it is fresh.
    #[arg(long, conflicts_with = "meta")]
    json: bool,
}

/// Runs `cachestore get`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    let store = ctx.open_existing()?;
    if args.json {
        return json(&store, &args.ns, &args.key, args.stale).await;
    }
    get(&store, &args.ns, &args.key, args.meta, args.stale).await
}

async fn found(
    store: &Arc<dyn CacheStore>,
    ns: &str,
    key: &str,
    stale: bool,
) -> Result<cachestore::Entry, Failure> {
    let entry = if stale { store.get_stale(ns, key).await? } else { store.get(ns, key).await? };
    entry.ok_or_else(|| {
        let hint = if stale { None } else { Some("add --stale to see a stale row") };
        Failure { code: 3, message: format!("no fresh row ({ns:?}, {key:?})"), hint }
    })
}

async fn json(store: &Arc<dyn CacheStore>, ns: &str, key: &str, stale: bool) -> Outcome {
    let entry = found(store, ns, key, stale).await?;
    let fresh = entry.is_fresh(store.clock().now());
    let version = entry.version;
    let item = cachestore::ScanItem { namespace: ns.to_owned(), key: key.to_owned(), entry };
    let line = crate::rows::Line::from_item(&item).map_err(|e| Failure::new(1, e))?;
    let mut value = serde_json::to_value(&line).map_err(|e| Failure::new(1, e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("version".into(), version.into());
        object.insert("fresh".into(), fresh.into());
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output("to stdout", e))
}

async fn get(store: &Arc<dyn CacheStore>, ns: &str, key: &str, meta: bool, stale: bool) -> Outcome {
    let entry = found(store, ns, key, stale).await?;
    if meta {
        let now = store.clock().now();
        let when = |t: Option<std::time::SystemTime>| t.map_or_else(|| "never".into(), date);
        eprintln!("stored:      {} ({})", date(entry.stored_at), ago(now, entry.stored_at));
        eprintln!("expires:     {} ({})", when(entry.expires_at), expiry(&entry, now));
        eprintln!("stale until: {}", when(entry.stale_until));
        eprintln!("size:        {}", size(entry.payload.len() as u64));
        eprintln!("version:     {}", entry.version);
        if !entry.tags.is_empty() {
            let tags: Vec<&str> = entry.tags.iter().map(String::as_str).collect();
            eprintln!("tags:        {}", tags.join(", "));
        }
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
