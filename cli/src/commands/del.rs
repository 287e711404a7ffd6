//! Delete a row.

use super::Context;
use crate::output::{Failure, Outcome};

/// The arguments of `cachestore del`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Namespace.
    ns: String,
    /// Key.
    key: String,
}

/// Runs `cachestore del`.
pub(crate) async fn run(args: Args, ctx: &Context) -> Outcome {
    if ctx.open_existing()?.delete(&args.ns, &args.key).await? {
        Ok(())
    } else {
        Err(Failure::new(3, format!("no row ({:?}, {:?})", args.ns, args.key)))
    }
}
