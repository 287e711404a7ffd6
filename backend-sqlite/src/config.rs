//! How a store is configured: durability and the defaults.

use std::time::Duration;

/// The default payload limit: 64 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default busy timeout: how long a write waits for another process's
/// write before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How durable a committed write is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=NORMAL`: a committed write survives the process being
    /// killed; the last commits may be lost on power loss or an OS crash.
    #[default]
    Normal,
    /// `synchronous=FULL`: a committed write also survives power loss. Each
    /// commit costs an fsync; group commit shares it between concurrent
    /// writers.
    Full,
}
