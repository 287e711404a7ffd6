//! The shared conformance suite on SQLite, reopen included.

use cachestore_conformance::{ManualClock, StoreFactory, async_trait, conformance_tests};
use cachestore_core::{Error, Result};
use cachestore_sqlite::SqliteStore;

/// Each store gets its own file in one temporary directory, removed at exit.
struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Sqlite { dir: tempfile::tempdir().expect("a temporary directory") }
    }
}

#[async_trait]
impl StoreFactory for Sqlite {
    type Store = SqliteStore;

    async fn open(&self, clock: ManualClock) -> Result<SqliteStore> {
        SqliteStore::builder(self.new_path()?).clock(clock).open()
    }

    async fn open_bounded(
        &self,
        clock: ManualClock,
        max_bytes: u64,
    ) -> Result<Option<SqliteStore>> {
        SqliteStore::builder(self.new_path()?).clock(clock).max_bytes(max_bytes).open().map(Some)
    }

    async fn reopen(&self, store: SqliteStore, clock: ManualClock) -> Result<SqliteStore> {
        let path = store.path().to_owned();
        drop(store);
        SqliteStore::builder(path).clock(clock).open()
    }
}

impl Sqlite {
    fn new_path(&self) -> Result<std::path::PathBuf> {
        let file = tempfile::Builder::new()
            .suffix(".sqlite")
            .tempfile_in(self.dir.path())
            .map_err(|e| Error::io("creating a temporary file", e))?;
        let (_, path) = file.keep().map_err(|e| Error::io("keeping a temporary file", e.error))?;
        Ok(path)
    }
}

conformance_tests!(Sqlite::new(), persistent);
