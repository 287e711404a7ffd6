//! Step 2 of writing a backend: run the whole suite on it with one macro call.
//! Step 1, the store itself, is `support/btree_store.rs`.

mod support;

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::Result;
use support::btree_store::BTreeStore;

struct Factory;

#[async_trait]
impl StoreFactory for Factory {
    type Store = BTreeStore;

    async fn open(&self, clock: ManualClock) -> Result<BTreeStore> {
        Ok(BTreeStore::new(clock))
    }

    async fn open_bounded(&self, clock: ManualClock, max_bytes: u64) -> Result<Option<BTreeStore>> {
        Ok(Some(BTreeStore::bounded(clock, max_bytes)))
    }
}

conformance_tests!(Factory);
