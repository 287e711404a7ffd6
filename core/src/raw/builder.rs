//! What every backend's builder shares: its setters and the payload-limit
//! check.

use crate::error::{Error, Result};
use crate::identity::MIN_PAYLOAD_LIMIT;

/// Writes a builder's setters: each takes `self`, stores its argument (or
/// the expression after `=`) in a field of the builder, and returns the
/// builder. Attributes (doc comments) go through as they are.
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
    ($($(#[$attr:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident $(= $value:expr)?;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$field = $crate::__cachestore_setters!(@value $arg $($value)?);
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
