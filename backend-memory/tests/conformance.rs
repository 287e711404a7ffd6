//! The shared conformance suite on the memory store.

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::Result;
use cachestore_memory::MemoryStore;

struct Memory;

#[async_trait]
impl StoreFactory for Memory {
    type Store = MemoryStore;

    async fn open(&self, clock: ManualClock) -> Result<MemoryStore> {
        Ok(MemoryStore::with_clock(clock))
    }
}

conformance_tests!(Memory);
