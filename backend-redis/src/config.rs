//! The defaults and limits.

use std::time::Duration;

/// The default payload limit: 64 MiB (Redis's own limit is 512 MB).
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "cachestore:";

/// How long after `stale_until` Redis keeps a row by default.
pub const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(60);

/// The longest physical expiry the store asks of Redis (about 31,700 years):
/// Redis refuses a `PEXPIRE` whose end passes the i64 milliseconds limit.
pub(crate) const MAX_PX: i64 = 1_000_000_000_000_000;
