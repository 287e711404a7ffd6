//! Remove every row carrying a tag, in every namespace.

use super::Context;
use crate::output::Outcome;

/// The arguments of `cachestore invalidate`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The tag (as written with `set --tag`, or by the application).
    tag: String,
}

/// Runs `cachestore invalidate`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    let n = ctx.open_existing()?.invalidate_tag(&args.tag).await?;
    println!("removed {n} rows tagged {:?}", args.tag);
    Ok(())
}
