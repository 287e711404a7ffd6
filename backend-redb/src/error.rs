//! redb's errors and panics as the contract's errors.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use cachestore_core::{Error, Result};

/// Runs `f`, turning a panic inside redb into [`Error::Corrupt`]: redb can
/// panic on a damaged file, and no panic may reach the caller.
pub(crate) fn guard<R>(path: &Path, operation: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(Error::Corrupt {
                location: path.display().to_string(),
                detail: format!("redb panicked while {operation} ({message}); the file is damaged"),
                source: None,
            })
        }
    }
}

/// Maps a redb error to the contract's error, with the file and operation.
pub(crate) fn map_err(path: &Path, operation: &str, e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    let context = || format!("{operation} {}", path.display());
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            Error::InUse { path: path.into(), source: Some(Box::new(e)) }
        }
        redb::Error::Corrupted(detail) => {
            Error::Corrupt { location: path.display().to_string(), detail, source: None }
        }
        redb::Error::UpgradeRequired(version) => Error::Incompatible {
            path: path.into(),
            detail: format!(
                "a redb file in an old format (version {version}) that needs an upgrade"
            ),
        },
        // A read past the end: the file was cut.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::Corrupt {
            location: path.display().to_string(),
            detail: format!("the file is shorter than its contents say ({operation})"),
            source: Some(Box::new(io)),
        },
        redb::Error::Io(io) => Error::Io { context: context(), source: io },
        redb::Error::PreviousIo => Error::Backend {
            backend: "redb",
            operation: context(),
            source: "an earlier I/O error (disk full, say) stopped the database: drop every \
                     handle of this store and open it again"
                .into(),
        },
        other => Error::Backend { backend: "redb", operation: context(), source: Box::new(other) },
    }
}

pub(crate) fn internal(what: &str) -> Error {
    Error::Backend {
        backend: "redb",
        operation: what.to_owned(),
        source: "the writer gave no answer (a bug in cachestore-redb)".into(),
    }
}
