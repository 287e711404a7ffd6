//! Write every row as JSON Lines (payload in base64).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore::CacheStore;

use super::Context;
use crate::output::{Failure, Outcome, create_private, progress, scan_pages};
use crate::rows::Line;

/// The arguments of `cachestore export`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The file; default stdout.
    file: Option<PathBuf>,
}

/// Runs `cachestore export`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    export(&ctx.open_existing()?, args.file.as_deref()).await
}

async fn export(store: &Arc<dyn CacheStore>, file: Option<&Path>) -> Outcome {
    let mut out: Box<dyn Write> = match file {
        Some(path) => Box::new(std::io::BufWriter::new(create_private(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = progress(None, "exporting");
    scan_pages(store, None, |items| {
        for item in &items {
            let line = Line::from_item(item).map_err(|e| Failure::new(1, e))?;
            let text = serde_json::to_string(&line).map_err(|e| Failure::new(1, e.to_string()))?;
            writeln!(out, "{text}").map_err(|e| Failure::output("the export", e))?;
        }
        bar.inc(items.len() as u64);
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    out.flush().map_err(|e| Failure::output("the export", e))
}
