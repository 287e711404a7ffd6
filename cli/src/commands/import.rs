//! Read rows from JSON Lines (a file, or `-` for stdin); nothing is written
//! unless every line is valid and one the store accepts (payload limit,
//! times). A store that fails while writing (a full disk) is reported with
//! how many rows were written.
//!
//! Two passes over the input, each a line at a time, so memory does not
//! grow with it: the first checks every line, the second writes them in
//! batches. Standard input is spooled to a private temporary file for the
//! second pass, and the file removed after.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore::ManualClock;

use super::Context;
use crate::output::{Failure, Outcome, create_private, open, progress};
use crate::rows::{self, Line, Row, write_rows};

/// Rows checked or written at a time.
const BATCH: usize = 1_000;

/// The arguments of `cachestore import`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The file; `-` reads standard input (`cachestore export | cachestore
    /// --store OTHER import -`).
    file: PathBuf,
}

/// Runs `cachestore import`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    if args.file.as_os_str() == "-" {
        let spool = Spool::of_stdin()?;
        return import(&ctx.url, &spool.path, "standard input").await;
    }
    let shown = args.file.display().to_string();
    import(&ctx.url, &args.file, &shown).await
}

/// Standard input copied to a private temporary file, removed when dropped.
struct Spool {
    path: PathBuf,
}

impl Spool {
    fn of_stdin() -> Result<Spool, Failure> {
        let path = std::env::temp_dir().join(format!(
            "cachestore-import-{}-{}",
            std::process::id(),
            nanos()
        ));
        let spool = Spool { path };
        let mut file = std::io::BufWriter::new(create_private(&spool.path)?);
        let fail = |e: std::io::Error| Failure::new(1, format!("reading standard input: {e}"));
        std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(fail)?;
        file.flush().map_err(fail)?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The input's lines, each parsed into its row, with its number (from 1);
/// blank lines are skipped.
fn lines(path: &Path, shown: &str) -> Result<impl Iterator<Item = LineResult>, Failure> {
    let file =
        std::fs::File::open(path).map_err(|e| Failure::new(1, format!("reading {shown}: {e}")))?;
    let shown = shown.to_owned();
    Ok(BufReader::new(file).lines().enumerate().filter_map(move |(i, line)| match line {
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(Ok((i + 1, Line::parse(&text)))),
        Err(e) => Some(Err(Failure::new(1, format!("reading {shown}: {e}")))),
    }))
}

type LineResult = Result<(usize, Result<Row, String>), Failure>;

async fn import(url: &str, path: &Path, shown: &str) -> Outcome {
    let refuse = |bad: Vec<String>| {
        for b in &bad {
            eprintln!("{shown}: {b}");
        }
        Failure::new(5, format!("{} bad line(s) in {shown}; nothing was imported", bad.len()))
    };
    // First pass, before the store is opened: every line must parse.
    let mut bad = Vec::new();
    let mut count = 0u64;
    for line in lines(path, shown)? {
        match line? {
            (_, Ok(_)) => count += 1,
            (n, Err(e)) => bad.push(format!("line {n}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(refuse(bad));
    }
    let clock = ManualClock::new();
    let store = open(url, Arc::new(clock.clone()))?;
    // Still before anything is written: every row must be one the store
    // accepts (a payload over its limit on the last line writes nothing).
    let mut refused = Vec::new();
    for_batches(path, shown, |batch| {
        refused.extend(rows::refused_by(store.as_ref(), &batch));
        async { Ok(()) }
    })
    .await?;
    if !refused.is_empty() {
        return Err(refuse(refused));
    }
    let bar = progress(Some(count), "importing");
    let written = &mut 0u64;
    let write = |batch: Vec<(usize, Row)>| {
        let rows: Vec<Row> = batch.into_iter().map(|(_, row)| row).collect();
        let (store, clock, bar) = (Arc::clone(&store), clock.clone(), bar.clone());
        let done = *written;
        *written += rows.len() as u64;
        async move {
            write_rows(&store, &clock, &rows, &bar)
                .await
                .map_err(|e| Failure::new(1, format!("{e} (after {done} rows of earlier batches)")))
        }
    };
    for_batches(path, shown, write).await?;
    bar.finish_and_clear();
    println!("imported {count} rows");
    Ok(())
}

/// Calls `each` on the input's rows, `BATCH` at a time, in order. Every
/// line parsed in the first pass, so a line that fails now changed since.
async fn for_batches<F, Fut>(path: &Path, shown: &str, mut each: F) -> Outcome
where
    F: FnMut(Vec<(usize, Row)>) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut batch = Vec::with_capacity(BATCH);
    for line in lines(path, shown)? {
        let (n, row) = line?;
        let row = row.map_err(|e| Failure::new(5, format!("{shown} changed: line {n}: {e}")))?;
        batch.push((n, row));
        if batch.len() == BATCH {
            each(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        each(batch).await?;
    }
    Ok(())
}
