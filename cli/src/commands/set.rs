//! Store stdin as a row's payload.

use std::io::Read;
use std::sync::Arc;

use cachestore::{Bytes, CacheStore, SetOptions, Ttl};

use super::Context;
use crate::output::{Failure, Outcome, parse_duration};

/// The arguments of `cachestore set`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Namespace.
    ns: String,
    /// Key.
    key: String,
    /// How long the row is fresh: 30s, 1h, 7d… or "never".
    #[arg(long)]
    ttl: String,
    /// How long after that it may be served stale.
    #[arg(long)]
    stale_for: Option<String>,
    /// A header, K=V; repeat for more.
    #[arg(long = "header", value_name = "K=V")]
    headers: Vec<String>,
    /// A tag (see `cachestore invalidate`); repeat for more, up to 16.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

/// Runs `cachestore set`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    let ttl = (args.ttl.as_str(), args.stale_for.as_deref());
    set(&ctx.open()?, &args.ns, &args.key, ttl, &args.headers, &args.tags).await
}

async fn set(
    store: &Arc<dyn CacheStore>,
    ns: &str,
    key: &str,
    (ttl, stale_for): (&str, Option<&str>),
    headers: &[String],
    tags: &[String],
) -> Outcome {
    let mut options = SetOptions::new().tags(tags.iter().cloned());
    options = options.ttl(if ttl == "never" {
        Ttl::Never
    } else {
        Ttl::For(parse_duration("ttl", ttl)?)
    });
    if let Some(s) = stale_for {
        options = options.stale_for(parse_duration("stale-for", s)?);
    }
    for h in headers {
        let (k, v) = h.split_once('=').ok_or_else(|| {
            Failure::new(5, format!("--header {h:?} is not K=V"))
                .hint("e.g. --header content-type=application/json")
        })?;
        options = options.header(k, v);
    }
    let mut payload = Vec::new();
    std::io::stdin()
        .read_to_end(&mut payload)
        .map_err(|e| Failure::new(1, format!("reading stdin: {e}")))?;
    store.set(ns, key, Bytes::from(payload), options).await?;
    Ok(())
}
