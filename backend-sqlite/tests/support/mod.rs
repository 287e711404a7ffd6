//! The SQLite store as the process harness and campaigns of `cachestore-test-harness` see it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use cachestore_sqlite::SqliteStore;
use cachestore_test_harness::processes::Backend;

fn verify(path: &Path) -> Result<(), String> {
    let store = SqliteStore::open(path).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(store.integrity_check()).map_err(|e| e.to_string())
}

/// Checkpoints the write-ahead log into the file.
fn settle(path: &Path) -> Result<(), String> {
    SqliteStore::open(path).and_then(|s| s.checkpoint()).map_err(|e| e.to_string())
}

pub(crate) const BACKEND: Backend = Backend {
    file_name: "cache.sqlite",
    companions: &["-wal", "-shm", "-journal"],
    open: |path| Ok(Arc::new(SqliteStore::open(path)?)),
    recreate: |path| {
        let store = SqliteStore::builder(path).recreate_if_corrupt(true).open()?;
        let moved = store.recovered_from().map(Path::to_path_buf);
        Ok((Arc::new(store), moved))
    },
    verify,
    settle,
};
