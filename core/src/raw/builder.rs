//! What every backend's builder shares: its setters and the payload-limit
//! check.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::identity::MIN_PAYLOAD_LIMIT;
use crate::raw::url::StoreUrl;
use crate::time::{SharedClock, SystemClock};

/// The settings of a store in a file (SQLite, redb) that are not the
/// engine's own: a backend's builder holds them and sets them with
/// [`setters!`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileOptions {
    /// The store's file.
    pub path: PathBuf,
    /// The clock every phase is judged by.
    pub clock: SharedClock,
    /// The largest payload accepted.
    pub max_payload: u64,
    /// Move a damaged store aside and start an empty one.
    pub recreate_if_corrupt: bool,
    /// Check the whole file at open.
    pub check_integrity: bool,
    /// The size bound of CONTRACT.md §11: the most bytes (by
    /// [`row_bytes`](crate::row_bytes)) the rows may hold after a write
    /// commits; `None` for no bound.
    pub max_bytes: Option<u64>,
}

impl FileOptions {
    /// The defaults for the store at `path`: the system clock, the payload
    /// limit `max_payload`, no recreate, no full check at open.
    pub fn new(path: PathBuf, max_payload: u64) -> FileOptions {
        FileOptions {
            path,
            clock: Arc::new(SystemClock),
            max_payload,
            recreate_if_corrupt: false,
            check_integrity: false,
            max_bytes: None,
        }
    }

    /// Parses the URL of a file store of `scheme`: its path, and the options
    /// `recreate_if_corrupt=true|false`, `max_payload=BYTES` (default
    /// `max_payload`) and `max_bytes=BYTES` (the size bound; default none);
    /// the URL with the backend's own options left in it.
    pub fn parse(url: &str, scheme: &str, max_payload: u64) -> Result<(StoreUrl, FileOptions)> {
        let mut url = StoreUrl::parse(url)?;
        url.expect_scheme(&[scheme])?;
        let mut options = FileOptions::new(url.file()?, max_payload);
        if let Some(on) = url.take_bool("recreate_if_corrupt")? {
            options.recreate_if_corrupt = on;
        }
        if let Some(bytes) = url.take_u64("max_payload")? {
            options.max_payload = bytes;
        }
        options.max_bytes = url.take_u64("max_bytes")?;
        Ok((url, options))
    }
}

/// Writes a builder's setters: each takes `self`, stores its argument (or
/// the expression after `=`) in a field of the builder (or a field of a
/// field: `file.clock`), and returns the builder. Attributes (doc comments) go through as they are.
///
/// ```
/// # use std::sync::Arc;
/// # use cachestore_core::{Clock, SharedClock, SystemClock};
/// pub struct Builder { clock: SharedClock, limit: u64 }
/// impl Builder {
///     cachestore_core::raw::builder::setters! {
///         /// The clock.
///         clock(clock: impl Clock) => clock = Arc::new(clock);
///         /// The limit.
///         limit(bytes: u64) => limit;
///     }
/// }
/// let b = Builder { clock: Arc::new(SystemClock), limit: 0 }.limit(7).clock(SystemClock);
/// assert_eq!(b.limit, 7);
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __cachestore_setters {
    ($($(#[$attr:meta])* $name:ident($arg:ident: $ty:ty) => $($field:ident).+ $(= $value:expr)?;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $crate::__cachestore_setters!(@value $arg $($value)?);
                self
            }
        )*
    };
    (@value $arg:ident) => { $arg };
    (@value $arg:ident $value:expr) => { $value };
}

pub use crate::__cachestore_setters as setters;

/// Checks a builder's `max_payload` against the range a backend accepts:
/// at least [`MIN_PAYLOAD_LIMIT`] (16 MiB, what every backend accepts), at
/// most `max`. Outside it, [`Error::Config`] saying the range.
pub fn check_max_payload(bytes: u64, max: u64) -> Result<()> {
    if (MIN_PAYLOAD_LIMIT..=max).contains(&bytes) {
        return Ok(());
    }
    let range = if max == u64::MAX {
        "at least 16 MiB, which every backend accepts".to_owned()
    } else {
        format!("between 16 MiB and {} MiB", max / (1024 * 1024))
    };
    Err(Error::Config { message: format!("max_payload is {bytes} bytes; it must be {range}") })
}

#[cfg(test)]
mod tests {
    use super::check_max_payload;
    use crate::{Error, MIN_PAYLOAD_LIMIT};

    #[test]
    fn the_payload_limit_must_lie_in_the_backends_range() {
        assert!(check_max_payload(MIN_PAYLOAD_LIMIT, MIN_PAYLOAD_LIMIT).is_ok());
        let Err(Error::Config { message }) = check_max_payload(1 << 30, 512 << 20) else {
            panic!("1 GiB over a 512 MiB limit was taken");
        };
        assert!(message.contains("between 16 MiB and 512 MiB"), "{message}");
        let Err(Error::Config { message }) = check_max_payload(1, u64::MAX) else {
            panic!("1 byte was taken");
        };
        assert!(message.contains("at least 16 MiB"), "{message}");
    }
}
