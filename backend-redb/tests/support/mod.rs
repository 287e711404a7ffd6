//! The redb store as the process harness and campaigns of `cachestore-test-harness` see it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use cachestore_redb::RedbStore;
use cachestore_test_harness::processes::Backend;

/// Every row's checksum and the index, after each kill.
fn verify(path: &Path) -> Result<(), String> {
    let store = RedbStore::open(path).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(store.integrity_check()).map_err(|e| e.to_string())
}

pub(crate) const BACKEND: Backend = Backend {
    file_name: "cache.redb",
    companions: &["-wal"],
    open: |path| Ok(Arc::new(RedbStore::open(path)?)),
    recreate: |path| {
        let store = RedbStore::builder(path).recreate_if_corrupt(true).open()?;
        let moved = store.recovered_from().map(Path::to_path_buf);
        Ok((Arc::new(store), moved))
    },
    verify,
    // A closed redb file holds every committed row.
    settle: |_| Ok(()),
};
