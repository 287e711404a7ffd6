//! SQLite's errors as the contract's errors.

use std::path::Path;

use cachestore_core::Error;
use rusqlite::ErrorCode;

/// Maps a SQLite error to the contract's error, with the file and operation.
pub(crate) fn map_err(path: &Path, operation: &'static str, e: rusqlite::Error) -> Error {
    let context = || format!("{operation} {}", path.display());
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
            location: path.display().to_string(),
            detail: format!("SQLite reports damage while {operation}"),
            source: Some(Box::new(e)),
        },
        // Another connection held the lock for longer than the busy
        // timeout: the file is in use, which may pass (retriable).
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Error::InUse { path: path.into(), source: Some(Box::new(e)) }
        }
        Some(ErrorCode::DiskFull) => Error::Io {
            context: context(),
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, e),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            Error::Io { context: context(), source: std::io::Error::other(e) }
        }
        Some(ErrorCode::SystemIoFailure) => {
            Error::Io { context: context(), source: std::io::Error::other(e) }
        }
        _ => Error::Backend { backend: "sqlite", operation: context(), source: Box::new(e) },
    }
}
