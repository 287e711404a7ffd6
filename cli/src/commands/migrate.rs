//! Copy every row, with all its metadata, from one store to another.
//! Resumable: progress is kept in a state file until the copy finishes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use cachestore::{ManualClock, ScanCursor, SystemClock, redact_url};
use serde::{Deserialize, Serialize};

use super::Context;
use crate::output::{Failure, Outcome, create_private, open, progress};
use crate::rows::{Row, write_rows};

/// The arguments of `cachestore migrate`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Source URL.
    from: String,
    /// Destination URL.
    to: String,
    /// The state file. Default: cachestore-migrate.state in the current directory.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Stop after this many pages (to test resuming).
    #[arg(long, hide = true)]
    max_pages: Option<u64>,
}

pub(crate) async fn run(args: Args, _ctx: &Context) -> Outcome {
    migrate(&args.from, &args.to, args.state, args.max_pages).await
}

/// Where a migration stands: the source, the destination (both without their
/// passwords or tokens), and the last row copied.
#[derive(Serialize, Deserialize)]
struct MigrateState {
    from: String,
    to: String,
    after_namespace: String,
    after_key: String,
    copied: u64,
}

async fn migrate(
    from: &str,
    to: &str,
    state_file: Option<PathBuf>,
    max_pages: Option<u64>,
) -> Outcome {
    let state_file = state_file.unwrap_or_else(|| PathBuf::from("cachestore-migrate.state"));
    let mut cursor = None;
    let mut copied = 0;
    if let Ok(text) = std::fs::read_to_string(&state_file) {
        let state: MigrateState = serde_json::from_str(&text).map_err(|e| {
            Failure::new(5, format!("{}: not a migration state file: {e}", state_file.display()))
        })?;
        // The file keeps the URLs without their secrets (see below).
        let (from_shown, to_shown) = (redact_url(from), redact_url(to));
        if state.from != from_shown || state.to != to_shown {
            return Err(Failure::new(
                5,
                format!(
                    "{} belongs to a migration from {} to {}",
                    state_file.display(),
                    state.from,
                    state.to
                ),
            )
            .hint("pass another --state file, or delete this one"));
        }
        eprintln!("resuming after {} rows", state.copied);
        cursor = Some(ScanCursor { namespace: state.after_namespace, key: state.after_key });
        copied = state.copied;
    }
    super::must_exist(from)?;
    let source = open(from, Arc::new(SystemClock))?;
    let clock = ManualClock::new();
    let dest = open(to, Arc::new(clock.clone()))?;
    let bar = progress(None, "migrating");
    let mut pages = 0;
    loop {
        let page = source.scan(None, cursor.as_ref(), 500).await?;
        // Rows go from store to store as they are: no base64, no text.
        let lines = page
            .items
            .into_iter()
            .map(Row::from_item)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::new(1, e))?;
        write_rows(&dest, &clock, &lines, &bar).await.map_err(|e| Failure::new(1, e))?;
        copied += lines.len() as u64;
        let Some(next) = page.next else { break };
        let state = MigrateState {
            from: redact_url(from),
            to: redact_url(to),
            after_namespace: next.namespace.clone(),
            after_key: next.key.clone(),
            copied,
        };
        let text = serde_json::to_string(&state).map_err(|e| Failure::new(1, e.to_string()))?;
        create_private(&state_file)?
            .write_all(text.as_bytes())
            .map_err(|e| Failure::new(1, format!("writing {}: {e}", state_file.display())))?;
        cursor = Some(next);
        pages += 1;
        if max_pages.is_some_and(|m| pages >= m) {
            println!("stopped after {copied} rows; run the same command again to resume");
            return Ok(());
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&state_file);
    println!("migrated {copied} rows");
    Ok(())
}
