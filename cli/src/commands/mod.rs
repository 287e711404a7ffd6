//! One module per command, each with its own arguments and `run`.

mod bench;
mod clear;
mod del;
mod export;
mod get;
mod import;
mod invalidate;
mod ls;
mod migrate;
mod purge;
mod set;
mod stats;

use std::sync::Arc;

use cachestore::{CacheStore, ManualClock, SharedClock};
use clap::Subcommand;

use crate::output::{Failure, Outcome};

/// Fails, creating nothing, when `url` names a file store whose file does
/// not exist.
pub(crate) fn must_exist(url: &str) -> Result<(), Failure> {
    let parsed = cachestore_core::raw::url::StoreUrl::parse(url)?;
    if !matches!(parsed.scheme(), "sqlite" | "redb") {
        return Ok(());
    }
    let path = parsed.file()?;
    if path.exists() {
        return Ok(());
    }
    Err(Failure::new(1, format!("no store at {} (nothing was created)", path.display()))
        .hint("check --store; `cachestore set` or `import` creates a store"))
}

/// The commands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Rows (fresh, stale, dead), bytes, oldest and newest row per namespace, and the size on disk.
    Stats(stats::Args),
    /// Print a row's payload to stdout.
    Get(get::Args),
    /// Store stdin as a row's payload.
    Set(set::Args),
    /// Delete a row.
    Del(del::Args),
    /// List rows, with their expiry for people.
    Ls(ls::Args),
    /// Remove dead rows.
    Purge(purge::Args),
    /// Remove a namespace's rows, or all rows.
    Clear(clear::Args),
    /// Remove every row carrying a tag, in every namespace.
    Invalidate(invalidate::Args),
    /// Write every row as JSON Lines (payload in base64).
    Export(export::Args),
    /// Read rows from JSON Lines, all or nothing.
    ///
    /// Nothing is written unless every line is valid and one the store
    /// accepts (payload limit, times). A store that fails while writing (a
    /// full disk) is reported with how many rows were written.
    Import(import::Args),
    /// Copy every row, with all its metadata, from one store to another.
    ///
    /// Resumable: progress is kept in a state file (mode 0600, URLs without
    /// their passwords) until the copy finishes.
    Migrate(migrate::Args),
    /// The standard workload against the store: medians and ops/s.
    Bench(bench::Args),
}

/// What every command runs with: the store's URL and the one clock of the
/// invocation.
pub(crate) struct Context {
    pub(crate) url: String,
    /// Stands at the real time when the command starts: every phase in one
    /// invocation is judged at the same moment, and `purge --dry-run` can
    /// look at the rows from another moment.
    pub(crate) clock: ManualClock,
}

impl Context {
    /// Opens the store on the invocation's clock.
    pub(crate) fn open(&self) -> Result<Arc<dyn CacheStore>, Failure> {
        let clock: SharedClock = Arc::new(self.clock.clone());
        Ok(cachestore::open_with_clock(&self.url, clock)?)
    }

    /// Opens a store that must already exist, for a command that only reads
    /// (`stats`, `get`, `ls`, `export`, `del`, `purge`, `clear`,
    /// `invalidate`): a file
    /// store whose file is missing is an error, and nothing is created (a
    /// mistyped path must not leave an empty store and its directories).
    pub(crate) fn open_existing(&self) -> Result<Arc<dyn CacheStore>, Failure> {
        must_exist(&self.url)?;
        self.open()
    }

    /// Runs `command`.
    pub(crate) async fn run(&self, command: Command) -> Outcome {
        match command {
            Command::Stats(args) => stats::run(args, self).await,
            Command::Get(args) => get::run(args, self).await,
            Command::Set(args) => set::run(args, self).await,
            Command::Del(args) => del::run(args, self).await,
            Command::Ls(args) => ls::run(args, self).await,
            Command::Purge(args) => purge::run(args, self).await,
            Command::Clear(args) => clear::run(args, self).await,
            Command::Invalidate(args) => invalidate::run(args, self).await,
            Command::Export(args) => export::run(args, self).await,
            Command::Import(args) => import::run(args, self).await,
            Command::Migrate(args) => migrate::run(args, self).await,
            Command::Bench(args) => bench::run(args, self).await,
        }
    }
}
