//! Remove a namespace's rows, or all rows.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use cachestore::CacheStore;

use super::Context;
use crate::output::{Failure, Outcome};

/// The arguments of `cachestore clear`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The namespace.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    ns: Option<String>,
    /// Every namespace.
    #[arg(long)]
    all: bool,
    /// Do not ask.
    #[arg(long)]
    yes: bool,
}

/// Runs `cachestore clear`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    clear(&ctx.open_existing()?, args.ns.as_deref(), args.all, args.yes).await
}

async fn clear(store: &Arc<dyn CacheStore>, ns: Option<&str>, all: bool, yes: bool) -> Outcome {
    let what = match (ns, all) {
        (Some(ns), _) => format!("every row of namespace {ns:?}"),
        (None, _) => "every row of every namespace".to_owned(),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::new(4, format!("refusing to clear {what} without confirmation"))
                .hint("pass --yes"));
        }
        eprint!("clear {what}? [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::new(4, "not cleared"));
        }
    }
    let n = match ns {
        Some(ns) => store.clear_namespace(ns).await?,
        None => store.clear_all().await?,
    };
    println!("cleared {n} rows");
    Ok(())
}
