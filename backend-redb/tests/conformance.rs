//! The shared conformance suite on redb, reopen included.

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::Result;
use cachestore_redb::RedbStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// Each store gets its own file in one temporary directory, removed at exit.
struct Redb {
    dir: tempfile::TempDir,
    next: AtomicU64,
}

impl Redb {
    fn new() -> Self {
        Redb { dir: tempfile::tempdir().expect("a temporary directory"), next: AtomicU64::new(0) }
    }
}

#[async_trait]
impl StoreFactory for Redb {
    type Store = RedbStore;

    async fn open(&self, clock: ManualClock) -> Result<RedbStore> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RedbStore::builder(self.dir.path().join(format!("{n}.redb"))).clock(clock).open()
    }

    async fn open_bounded(&self, clock: ManualClock, max_bytes: u64) -> Result<Option<RedbStore>> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("{n}.redb"));
        RedbStore::builder(path).clock(clock).max_bytes(max_bytes).open().map(Some)
    }

    async fn reopen(&self, store: RedbStore, clock: ManualClock) -> Result<RedbStore> {
        let path = store.path().to_owned();
        drop(store);
        RedbStore::builder(path).clock(clock).open()
    }
}

conformance_tests!(Redb::new(), persistent);
