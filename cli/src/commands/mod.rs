//! One module per command, each with its own arguments and `run`.

mod bench;
mod clear;
mod del;
mod export;
mod get;
mod import;
mod ls;
mod migrate;
mod purge;
mod set;
mod stats;

use std::sync::Arc;

use cachestore::{CacheStore, ManualClock, SharedClock};
use clap::Subcommand;

use crate::output::{Failure, Outcome};

/// The commands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Rows, bytes, oldest and newest row per namespace, and the file size.
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
            Command::Export(args) => export::run(args, self).await,
            Command::Import(args) => import::run(args, self).await,
            Command::Migrate(args) => migrate::run(args, self).await,
            Command::Bench(args) => bench::run(args, self).await,
        }
    }
}
