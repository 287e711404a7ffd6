//! Reliability with real processes (SIGKILL mid-write, a second process
//! refused with InUse, a full disk): the shared harness of
//! `cachestore_conformance::processes`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use cachestore_conformance::processes::{Backend, main as run};
use cachestore_redb::RedbStore;

/// A full check of every row and the index after each kill.
fn verify(path: &Path) -> Result<(), String> {
    let store = RedbStore::open(path).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(store.integrity_check()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    run(&Backend {
        file_name: "cache.redb",
        open: |path| Ok(Arc::new(RedbStore::open(path)?)),
        verify,
    })
}
