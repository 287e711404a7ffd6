//! `cachestore`: inspect, maintain and move caches on any backend.
//!
//! Every command takes the store as a URL (`--store sqlite:///path`,
//! `redb:///path`, `memory://`); the default is the platform cache path for
//! the app `cachestore` (`~/.cache/cachestore/cache.sqlite` on Linux).
//!
//! Exit codes: 0 success; 1 the store or a file failed; 2 bad usage (clap);
//! 3 the row was not found (`get`, `del`); 4 refused (`clear` without
//! `--yes` where it cannot ask); 5 bad input (`import` lines, `set` options).

mod commands;
mod output;
mod rows;

use std::process::ExitCode;
use std::time::SystemTime;

use cachestore::ManualClock;
use clap::Parser;

use crate::commands::Context;
use crate::output::{Failure, Outcome};

#[derive(Parser)]
#[command(
    name = "cachestore",
    version,
    about = "Inspect, maintain and move cachestore caches.",
    after_help = "Exit codes: 0 success; 1 the store or a file failed; 2 bad usage; \
                  3 row not found (get, del); 4 refused (clear without --yes where it cannot ask); \
                  5 bad input (import lines, set options, another migration's state file)."
)]
struct Cli {
    /// The store: memory://, sqlite:///path, redb:///path, redis://host/db
    /// or rediss://host/db (with ?options). Default: the platform cache
    /// path, as sqlite.
    #[arg(long, global = true, env = "CACHESTORE_URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return report(Failure::new(1, format!("cannot start a runtime: {e}"))),
        };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

fn report(f: Failure) -> ExitCode {
    if f.code == 0 {
        // The output's reader went away (a broken pipe): a normal end.
        return ExitCode::SUCCESS;
    }
    match f.hint {
        Some(hint) => eprintln!("error: {} (hint: {hint})", f.message),
        None => eprintln!("error: {}", f.message),
    }
    ExitCode::from(f.code)
}

fn store_url(cli: &Cli) -> Result<String, Failure> {
    match &cli.store {
        Some(url) => Ok(url.clone()),
        None => {
            let path = cachestore::default_cache_path("cachestore")?;
            Ok(format!("sqlite://{}", path.display()))
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let url = store_url(&cli)?;
    let context = Context { url, clock: ManualClock::starting_at(SystemTime::now()) };
    context.run(cli.command).await
}
