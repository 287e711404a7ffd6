//! Reliability with real processes (SIGKILL mid-write, four processes on one
//! file, a full disk): the shared harness of `cachestore_conformance::processes`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use cachestore_conformance::processes::{Backend, main as run};
use cachestore_sqlite::SqliteStore;

fn verify(path: &Path) -> Result<(), String> {
    let store = SqliteStore::open(path).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(store.integrity_check()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    run(&Backend {
        file_name: "cache.sqlite",
        open: |path| Ok(Arc::new(SqliteStore::open(path)?)),
        verify,
    })
}
