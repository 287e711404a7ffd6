//! Building and opening a store: file checks, the schema, recreate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachestore_core::raw::WriterParts;
use cachestore_core::raw::builder::FileOptions;
use cachestore_core::raw::group::GroupWriter;
use cachestore_core::raw::to_unix_millis;
use cachestore_core::raw::url::apply;
use cachestore_core::{Capabilities, Clock, Error, Result, SharedClock};
use rusqlite::Connection;

use crate::config::{DEFAULT_MAX_PAYLOAD, Durability};
use crate::error::map_err;
use crate::schema;
use crate::store::{Inner, SqliteStore};
use crate::writer::SqliteWriter;

/// Builds a [`SqliteStore`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `open()`"]
pub struct SqliteStoreBuilder {
    pub(crate) file: FileOptions,
    pub(crate) durability: Durability,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_idle_readers: usize,
}

impl SqliteStoreBuilder {
    /// A builder from a store URL: `sqlite:///abs/path` or
    /// `sqlite://rel/path` (percent-encoded), with the options
    /// `durability=normal|full`, `recreate_if_corrupt=true|false`,
    /// `max_payload=BYTES`, `max_bytes=BYTES` (the size bound, see
    /// [`max_bytes`](Self::max_bytes)) and `busy_timeout_ms=MS`. Any other option is
    /// [`Error::Config`](cachestore_core::Error::Config).
    pub fn from_url(url: &str) -> Result<SqliteStoreBuilder> {
        let (mut url, file) = FileOptions::parse(url, crate::SCHEME, DEFAULT_MAX_PAYLOAD)?;
        let mut builder = SqliteStoreBuilder { file, ..SqliteStore::builder(PathBuf::new()) };
        let choices = [("normal", Durability::Normal), ("full", Durability::Full)];
        builder = apply(builder, url.take_choice("durability", &choices)?, Self::durability);
        if let Some(ms) = url.take_u64("busy_timeout_ms")? {
            builder = builder.busy_timeout(Duration::from_millis(ms));
        }
        url.finish()?;
        Ok(builder)
    }

    cachestore_core::raw::builder::setters! {
        /// The clock every phase is judged by. Default: [`SystemClock`](cachestore_core::SystemClock).
        clock(clock: impl Clock) => file.clock = Arc::new(clock);
        /// The clock, already shared.
        shared_clock(clock: SharedClock) => file.clock;
        /// Durability of a committed write. Default: [`Durability::Normal`].
        durability(durability: Durability) => durability;
        /// How long a write waits for another process's lock. Default:
        /// [`DEFAULT_BUSY_TIMEOUT`](crate::DEFAULT_BUSY_TIMEOUT); at most `i32::MAX` milliseconds (about 24.8
        /// days, SQLite's limit), longer is [`Error::Config`] at open.
        busy_timeout(timeout: Duration) => busy_timeout;
        /// When the file is damaged (not a SQLite file, truncated, failing
        /// SQLite's checks), move it and its `-wal`/`-shm` aside as
        /// `<path>.corrupt-<unix ms>` and start an empty store. The file is never
        /// deleted. Another program's database or a newer schema version is
        /// still refused. Default: off, a damaged file is [`Error::Corrupt`].
        recreate_if_corrupt(on: bool) => file.recreate_if_corrupt;
        /// Run `PRAGMA quick_check` at open (O(file size)); a failure is
        /// [`Error::Corrupt`], or a recreated store with
        /// [`recreate_if_corrupt`](Self::recreate_if_corrupt). Default: off (SQLite
        /// and the row checksums detect damage as it is read).
        check_integrity_on_open(on: bool) => file.check_integrity;
        /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`](crate::DEFAULT_MAX_PAYLOAD); at
        /// least 16 MiB and at most 512 MiB (SQLite's blob limit is 1 GB).
        max_payload(bytes: u64) => file.max_payload;
        /// How many idle read connections to keep. Default: 8.
        max_idle_readers(n: usize) => max_idle_readers;
        /// The size bound (CONTRACT.md §11): after each write this store
        /// commits, its rows hold at most `bytes` by
        /// [`row_bytes`](cachestore_core::row_bytes). A write that passes it
        /// evicts, in the same transaction, down to 15/16 of it: expired
        /// rows first (dead, then stale, earliest `stale_until` first), then
        /// the least recently stored. A row larger than the bound is
        /// [`Error::PayloadTooLarge`]. The count lives in the file (the first
        /// bounded open adds it, in O(rows) once); the bound is this
        /// process's: another process that opens the file without one keeps
        /// the count but does not evict, and the next bounded write does.
        /// The files (database and `-wal`) stay near 1.4× the bound
        /// (rows of 1 KiB; smaller rows carry more overhead each), and
        /// [`compact`](cachestore_core::CacheStore::compact) gives back what
        /// deletes freed. At steady state every write also deletes, so a
        /// bounded write costs about twice an unbounded one
        /// (docs/performance.md). At least 1 KiB. Default: no bound.
        max_bytes(bytes: u64) => file.max_bytes = Some(bytes);
    }

    /// Opens the store, creating the file (and its directories) if missing.
    ///
    /// Blocks for the open (file checks, schema, at most a busy timeout).
    pub fn open(self) -> Result<SqliteStore> {
        // SQLite takes the busy timeout as an i32 of milliseconds (~24.8 days).
        if self.busy_timeout.as_millis() > i32::MAX as u128 {
            return Err(Error::Config {
                message: format!(
                    "busy_timeout is {:?}; SQLite takes at most {} ms (about 24.8 days)",
                    self.busy_timeout,
                    i32::MAX
                ),
            });
        }
        cachestore_core::raw::builder::check_max_payload(self.file.max_payload, 512 << 20)?;
        if let Some(bytes) = self.file.max_bytes.filter(|b| *b < 1024) {
            return Err(Error::Config {
                message: format!("max_bytes is {bytes}; a size bound must be at least 1024 bytes"),
            });
        }
        match self.open_once() {
            Err(Error::Corrupt { .. }) if self.file.recreate_if_corrupt => {
                let stamp = to_unix_millis(self.file.clock.now())?;
                let moved = cachestore_core::raw::files::move_aside(
                    &self.file.path,
                    stamp,
                    &["-wal", "-shm"],
                )?;
                let mut store = self.open_once()?;
                if let Some(inner) = Arc::get_mut(&mut store.inner) {
                    inner.recovered_from = Some(moved);
                }
                Ok(store)
            }
            other => other,
        }
    }

    fn open_once(&self) -> Result<SqliteStore> {
        let path = &self.file.path;
        if schema::inspect(path)? == schema::FileState::New {
            cachestore_core::raw::files::create_private_file(path)?;
        }
        let mut conn = schema::connect(path, self.busy_timeout, false)?;
        schema::prepare(&mut conn, path, self.durability, self.busy_timeout)?;
        if self.file.check_integrity {
            quick_check(&conn, path)?;
        }
        if let Some(max_bytes) = self.file.max_bytes {
            let now = to_unix_millis(self.file.clock.now())?;
            crate::bound::install(&mut conn, path, max_bytes, now)?;
        }
        let bound = self.file.max_bytes.map(|max| (max, self.file.clock.clone()));
        let engine = SqliteWriter { conn, path: path.clone(), bound };
        // A commit that syncs (durability full) runs on the writer thread, so
        // that no caller's runtime thread waits for an fsync; one that does
        // not (normal: WAL commits only append) may run on the caller's.
        let writer = match self.durability {
            Durability::Full => GroupWriter::start_queued(engine)?,
            Durability::Normal => GroupWriter::start(engine)?,
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                parts: WriterParts {
                    writer,
                    clock: self.file.clock.clone(),
                    capabilities: Capabilities::new()
                        .with_persistent(true)
                        .with_multi_process(true)
                        .with_atomic_batch(true)
                        .with_exact_stats(true)
                        .with_conditional_writes(true)
                        .with_touch(true)
                        .with_tags(true)
                        .with_compact(true)
                        .with_max_bytes(self.file.max_bytes)
                        .with_max_payload(self.file.max_payload),
                },
                path: path.clone(),
                location: path.display().to_string(),
                busy_timeout: self.busy_timeout,
                max_idle_readers: self.max_idle_readers,
                readers: Mutex::new(Vec::new()),
                recovered_from: None,
            }),
        })
    }
}

pub(crate) fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let result: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| map_err(path, "checking integrity", e))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(schema::corrupt(path, format!("integrity check failed: {result}")))
    }
}

#[cfg(test)]
mod url_tests {
    use super::SqliteStoreBuilder;
    use cachestore_core::raw::url::check_refused;

    #[test]
    fn from_url_takes_its_own_options_and_refuses_the_rest() {
        let good = "sqlite:///tmp/a%3Fb.sqlite?durability=full&busy_timeout_ms=10\
                    &recreate_if_corrupt=1&max_bytes=65536";
        let parsed = SqliteStoreBuilder::from_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(parsed.file.max_bytes, Some(65536), "{good}");
        let typo = format!("{good}&typo=1");
        let refused = [
            "sqlite:///x.db?durability=sometimes",
            "sqlite:///x.db?max_bytes=lots",
            "redb:///x.redb",
            concat!("redb:///x.redb", "?typo=1"),
            typo.as_str(),
        ];
        check_refused(SqliteStoreBuilder::from_url, &refused).unwrap_or_else(|e| panic!("{e}"));
    }
}
