//! The one error type every backend returns.

use std::fmt;
use std::path::PathBuf;

/// A boxed error from an engine or a library, kept as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which half of a row's identity an [`Error::InvalidKey`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityPart {
    /// The namespace: 1..=255 bytes of UTF-8.
    Namespace,
    /// The key: 1..=4096 bytes of UTF-8.
    Key,
}

impl fmt::Display for IdentityPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityPart::Namespace => "namespace",
            IdentityPart::Key => "key",
        })
    }
}

/// Everything that can go wrong in a cachestore operation.
///
/// The enum is `#[non_exhaustive]`: match the variants you act on and keep a
/// catch-all arm. Engine errors are kept as the [`source`](std::error::Error::source),
/// never flattened into a string. [`Error::is_retriable`] says which errors may
/// go away by themselves.
///
/// ```
/// use cachestore_core::{Error, IdentityPart, check_identity};
///
/// let err = check_identity("", "key").unwrap_err();
/// assert!(matches!(err, Error::InvalidKey { part: IdentityPart::Namespace, len: 0, .. }));
/// assert_eq!(err.to_string(), "invalid namespace (0 bytes): must not be empty");
/// assert!(!err.is_retriable(), "bad input stays bad");
///
/// let down = Error::Unavailable { endpoint: "127.0.0.1:6379".into(), source: "refused".into() };
/// match down {
///     e if e.is_retriable() => { /* back off and try again, or serve stale */ }
///     e => panic!("{e}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The namespace or key is empty or too long. Nothing was read or written.
    #[error("invalid {part} ({len} bytes): {reason}")]
    InvalidKey {
        /// Which part of the identity is wrong.
        part: IdentityPart,
        /// Its length in bytes.
        len: usize,
        /// What the rule is.
        reason: &'static str,
    },

    /// A write's tags break the rules of CONTRACT.md §9 (at most 16 tags,
    /// each 1..=255 bytes), or a tag passed to `invalidate_tag` is empty or
    /// too long. Nothing was written or removed.
    #[error("invalid tags: {reason}")]
    InvalidTags {
        /// Which rule, and the offending size.
        reason: String,
    },

    /// A TTL, stale window or clock time that cannot be represented (it
    /// overflows the store's millisecond range). Nothing was written.
    #[error("invalid TTL: {reason}")]
    InvalidTtl {
        /// What overflowed.
        reason: &'static str,
    },

    /// The payload is larger than this backend accepts, or, on a store with
    /// a size bound, the whole row is larger than the bound (CONTRACT.md
    /// §11). Nothing was written; payloads are never truncated.
    #[error(
        "{size} bytes is larger than this store's limit of {limit} bytes (its largest payload, \
         or its size bound for a whole row); store less, or raise the limit"
    )]
    PayloadTooLarge {
        /// The payload's size in bytes (the row's, by
        /// [`row_bytes`](crate::row_bytes), against a size bound).
        size: u64,
        /// The largest payload this store accepts (its size bound, against
        /// a size bound).
        limit: u64,
    },

    /// Stored data that does not decode: a damaged file, a foreign file, or a
    /// row written by something else.
    #[error("corrupt data in {location}: {detail}")]
    Corrupt {
        /// Where: a file path, a table and row, a server key.
        location: String,
        /// What is wrong with it.
        detail: String,
        /// The decoder's or engine's own error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// The file is not a store of this backend (another program's database,
    /// a different file type) or was written by a newer version of it. The
    /// file is left untouched, and `recreate_if_corrupt` options never move
    /// it aside: point the store at another path, or upgrade cachestore.
    #[error("{} cannot be opened as this store: {detail}", path.display())]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// What it is, and what to do.
        detail: String,
    },

    /// The file is held by another process: the engine cannot share it, or
    /// (SQLite) another process held its lock for longer than the busy
    /// timeout. Worth a retry.
    #[error(
        "{} is in use by another process; retry later, close the other user, or open a \
         different file",
        path.display()
    )]
    InUse {
        /// The file that is held.
        path: PathBuf,
        /// The engine's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// A server cannot be reached (refused, timed out, disconnected). Worth a retry.
    #[error("{endpoint} is unavailable: {source}")]
    Unavailable {
        /// The server, without credentials.
        endpoint: String,
        /// Why it could not be reached.
        #[source]
        source: BoxError,
    },

    /// An operating-system I/O error.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the store was doing, with the path where there is one.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Any other error of the engine, kept as the source.
    #[error("{backend} error while {operation}: {source}")]
    Backend {
        /// The backend's name (`"sqlite"`, `"redb"`, …).
        backend: &'static str,
        /// What the store was doing.
        operation: String,
        /// The engine's own error.
        #[source]
        source: BoxError,
    },

    /// A store or URL configuration that cannot work, with what to change.
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong and what to do instead.
        message: String,
    },

    /// The store does not do this operation (see its
    /// [`Capabilities`](crate::Capabilities)). Nothing was read or written.
    #[error("{backend} does not support {operation}; check capabilities() before calling it")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },

    /// A check of the application's refused the value before it was
    /// written (the facade's write guard, e.g. a payload holding an API
    /// key). Nothing was written. The reason names what was found, never
    /// the secret itself.
    #[error("refused to store ({namespace:?}, {key:?}): {reason}")]
    Refused {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// `true` for errors that may go away by themselves, so that retrying the
    /// same operation later is worthwhile: [`Error::Unavailable`] and
    /// [`Error::InUse`]. Invalid input and corrupt data are never retriable.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::InUse { .. })
    }

    /// The variant's name (`"InvalidKey"`, `"Unavailable"`, ...): what a log
    /// line or a metric label can say of an error without its message, which
    /// may name a key.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidKey { .. } => "InvalidKey",
            Error::InvalidTags { .. } => "InvalidTags",
            Error::InvalidTtl { .. } => "InvalidTtl",
            Error::PayloadTooLarge { .. } => "PayloadTooLarge",
            Error::Corrupt { .. } => "Corrupt",
            Error::Incompatible { .. } => "Incompatible",
            Error::InUse { .. } => "InUse",
            Error::Unavailable { .. } => "Unavailable",
            Error::Io { .. } => "Io",
            Error::Backend { .. } => "Backend",
            Error::Config { .. } => "Config",
            Error::Unsupported { .. } => "Unsupported",
            Error::Refused { .. } => "Refused",
        }
    }

    /// Wraps an engine error as [`Error::Backend`].
    pub fn backend(
        backend: &'static str,
        operation: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Backend { backend, operation: operation.into(), source: source.into() }
    }

    /// Wraps an I/O error as [`Error::Io`] with what the store was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// An [`Error::Corrupt`] for one stored row: where the store is
    /// (`location`: a file, a server), which row, and what is wrong with it.
    pub fn corrupt_row(
        location: &str,
        namespace: &str,
        key: &str,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            location: format!("{location}, row ({namespace:?}, {key:?})"),
            detail: detail.into(),
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_is_only_transient_errors() {
        let unavailable = Error::Unavailable {
            endpoint: "redis://127.0.0.1:1".into(),
            source: "connection refused".into(),
        };
        assert!(unavailable.is_retriable());
        assert!(Error::InUse { path: "/tmp/x".into(), source: None }.is_retriable());
        assert!(!Error::InvalidTtl { reason: "overflow" }.is_retriable());
        assert!(!Error::backend("sqlite", "reading", "boom").is_retriable());
    }

    #[test]
    fn messages_name_what_failed_and_keep_the_source() {
        let e = Error::io("opening /tmp/db", std::io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "I/O error while opening /tmp/db: disk on fire");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::InUse { path: "/tmp/c.redb".into(), source: None };
        assert!(e.to_string().contains("/tmp/c.redb"), "{e}");
    }

    #[test]
    fn an_invalid_identity_says_which_half() {
        let ns = Error::InvalidKey { part: IdentityPart::Namespace, len: 0, reason: "empty" };
        assert_eq!(ns.to_string(), "invalid namespace (0 bytes): empty");
        let key = Error::InvalidKey { part: IdentityPart::Key, len: 5000, reason: "too long" };
        assert_eq!(key.to_string(), "invalid key (5000 bytes): too long");
    }

    #[test]
    fn every_kind_is_the_variants_name() {
        let path = || PathBuf::from("/tmp/x");
        let errors = [
            (Error::InvalidKey { part: IdentityPart::Key, len: 0, reason: "" }, "InvalidKey"),
            (Error::InvalidTags { reason: String::new() }, "InvalidTags"),
            (Error::InvalidTtl { reason: "" }, "InvalidTtl"),
            (Error::PayloadTooLarge { size: 2, limit: 1 }, "PayloadTooLarge"),
            (Error::corrupt_row("f", "ns", "k", "bad"), "Corrupt"),
            (Error::Incompatible { path: path(), detail: String::new() }, "Incompatible"),
            (Error::InUse { path: path(), source: None }, "InUse"),
            (Error::Unavailable { endpoint: "h".into(), source: "x".into() }, "Unavailable"),
            (Error::io("x", std::io::Error::other("x")), "Io"),
            (Error::backend("sqlite", "x", "x"), "Backend"),
            (Error::Config { message: String::new() }, "Config"),
            (Error::Unsupported { backend: "b", operation: "o" }, "Unsupported"),
            (
                Error::Refused { namespace: "n".into(), key: "k".into(), reason: "r".into() },
                "Refused",
            ),
        ];
        for (error, kind) in errors {
            assert_eq!(error.kind(), kind, "{error:?}");
        }
    }

    #[test]
    fn a_corrupt_row_names_its_place_and_row() {
        let e = Error::corrupt_row("/tmp/c.db", "api", "k1", "bad header");
        assert_eq!(e.to_string(), "corrupt data in /tmp/c.db, row (\"api\", \"k1\"): bad header");
    }
}
