//! Read rows from JSON Lines; nothing is written unless every line is valid
//! and one the store accepts (payload limit, times). A store that fails
//! while writing (a full disk) is reported with how many rows were written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore::ManualClock;

use super::Context;
use crate::output::{Failure, Outcome, open, progress};
use crate::rows::{self, Line, Row, write_rows};

/// The arguments of `cachestore import`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The file.
    file: PathBuf,
}

/// Runs `cachestore import`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    import(&ctx.url, &args.file).await
}

async fn import(url: &str, file: &Path) -> Outcome {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::new(1, format!("reading {}: {e}", file.display())))?;
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match Line::parse(raw) {
            Ok(line) => lines.push((i + 1, line)),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    let refuse = |bad: Vec<String>| {
        for b in &bad {
            eprintln!("{}: {b}", file.display());
        }
        Failure::new(
            5,
            format!("{} bad line(s) in {}; nothing was imported", bad.len(), file.display()),
        )
    };
    if !bad.is_empty() {
        return Err(refuse(bad));
    }
    let clock = ManualClock::new();
    let store = open(url, Arc::new(clock.clone()))?;
    // Every row must be one the store accepts before the first is written:
    // a payload over its limit on the last line writes nothing.
    let refused = rows::refused_by(store.as_ref(), &lines);
    if !refused.is_empty() {
        return Err(refuse(refused));
    }
    let lines: Vec<Row> = lines.into_iter().map(|(_, line)| line).collect();
    let bar = progress(Some(lines.len() as u64), "importing");
    write_rows(&store, &clock, &lines, &bar).await.map_err(|e| Failure::new(1, e))?;
    bar.finish_and_clear();
    println!("imported {} rows", lines.len());
    Ok(())
}
