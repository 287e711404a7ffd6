//! Building and opening a store: the staged open, atomic creation, the
//! upgrade of older formats, and moving a damaged store aside.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cachestore_core::raw::WriterParts;
use cachestore_core::raw::builder::FileOptions;
use cachestore_core::raw::files::PathState;
use cachestore_core::raw::group::GroupWriter;
use cachestore_core::raw::to_unix_millis;
use cachestore_core::raw::url::apply;
use cachestore_core::{Capabilities, Clock, Error, Result, SharedClock};
use redb::Database;

use crate::config::{DEFAULT_MAX_PAYLOAD, Durability};
use crate::error::{guard, map_err};
use crate::log::{self, Log};
use crate::schema::{self, SCHEMA_VERSION};
use crate::storage::{self, Storage};
use crate::store::{Db, Inner, RedbStore};
use crate::writer::RedbWriter;

/// Builds a [`RedbStore`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `open()`"]
pub struct RedbStoreBuilder {
    pub(crate) file: FileOptions,
    pub(crate) durability: Durability,
    pub(crate) cache_size: usize,
}

impl RedbStoreBuilder {
    /// A builder from a store URL: `redb:///abs/path` or `redb://rel/path`
    /// (percent-encoded), with the options `durability=immediate|buffered`,
    /// `recreate_if_corrupt=true|false`, `max_payload=BYTES` and
    /// `max_bytes=BYTES` (the size bound, see [`max_bytes`](Self::max_bytes)).
    /// Any other option is [`Error::Config`].
    pub fn from_url(url: &str) -> Result<RedbStoreBuilder> {
        let (mut url, file) = FileOptions::parse(url, crate::SCHEME, DEFAULT_MAX_PAYLOAD)?;
        let mut builder = RedbStoreBuilder { file, ..RedbStore::builder(PathBuf::new()) };
        let choices = [("immediate", Durability::Immediate), ("buffered", Durability::Buffered)];
        builder = apply(builder, url.take_choice("durability", &choices)?, Self::durability);
        url.finish()?;
        Ok(builder)
    }

    cachestore_core::raw::builder::setters! {
        /// The clock every phase is judged by. Default: [`SystemClock`](cachestore_core::SystemClock).
        clock(clock: impl Clock) => file.clock = Arc::new(clock);
        /// The clock, already shared.
        shared_clock(clock: SharedClock) => file.clock;
        /// Durability of a committed write. Default: [`Durability::Immediate`].
        durability(durability: Durability) => durability;
        /// When the store is damaged (the database or its write-ahead log), move
        /// both aside as `<path>.corrupt-<unix ms>` and
        /// `<path>.corrupt-<unix ms>-wal`, byte for byte, and start an empty
        /// store. The files are moved only while this process holds them in
        /// redb's lock, so a file another process has open is never moved.
        /// Nothing is ever deleted. A foreign file or a newer format is still
        /// refused. Default: off.
        recreate_if_corrupt(on: bool) => file.recreate_if_corrupt;
        /// Verify every page's checksum and rebuild the allocator state at every
        /// open (O(file size)), not only after an unclean shutdown, when redb
        /// does it by itself. Default: off.
        check_integrity_on_open(on: bool) => file.check_integrity;
        /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`](crate::DEFAULT_MAX_PAYLOAD); between
        /// 16 MiB and 1 GiB.
        max_payload(bytes: u64) => file.max_payload;
        /// redb's page cache, in bytes. Default: [`DEFAULT_CACHE_SIZE`](crate::DEFAULT_CACHE_SIZE).
        cache_size(bytes: usize) => cache_size;
        /// The size bound (CONTRACT.md §11): after each write commits, the
        /// rows hold at most `bytes` by
        /// [`row_bytes`](cachestore_core::row_bytes). A write that passes it
        /// evicts in its own transaction (logged with it, so a crash
        /// replays the evictions too): expired rows first (earliest
        /// `stale_until` first, down to 15/16 of the bound), then the least
        /// recently stored, as many as needed. A row larger than the bound
        /// is [`Error::PayloadTooLarge`]. The writer keeps the rows' order
        /// in memory (built at open, O(rows); about the identity three
        /// times and 100 bytes a row). Opening with a bound smaller than
        /// the rows evicts at open. At least 1 KiB. Default: no bound.
        max_bytes(bytes: u64) => file.max_bytes = Some(bytes);
    }

    /// Opens the store, creating the file (and its directories) if missing.
    /// Blocks for the open.
    ///
    /// An open that is refused (a foreign or newer file, damage, a damaged
    /// log) changes no byte of the files it refused: redb's repair and every
    /// other write of the open are staged in memory until the whole open has
    /// succeeded (see the crate docs).
    pub fn open(self) -> Result<RedbStore> {
        cachestore_core::raw::builder::check_max_payload(self.file.max_payload, 1 << 30)?;
        if let Some(bytes) = self.file.max_bytes.filter(|b| *b < 1024) {
            return Err(Error::Config {
                message: format!("max_bytes is {bytes}; a size bound must be at least 1024 bytes"),
            });
        }
        match self.open_once() {
            Err(Error::Corrupt { .. }) if self.file.recreate_if_corrupt => {
                let stamp = to_unix_millis(self.file.clock.now())?;
                let moved = move_aside_held(&self.file.path, stamp)?;
                let mut store = self.open_once()?;
                if let Some(inner) = Arc::get_mut(&mut store.inner) {
                    inner.recovered_from = Some(moved);
                }
                Ok(store)
            }
            other => other,
        }
    }

    fn open_once(&self) -> Result<RedbStore> {
        // Each retry follows a change made by this or another process (a
        // file created, or replaced while it was opened): a few suffice.
        for _ in 0..OPEN_ATTEMPTS {
            if let Some(store) = self.try_open()? {
                return Ok(store);
            }
        }
        Err(Error::InUse {
            path: self.file.path.clone(),
            source: Some(
                "the file kept being replaced by other processes while it was opened".into(),
            ),
        })
    }

    /// One attempt at opening; `None` when the file at the path changed
    /// meanwhile (so the attempt must be made again).
    fn try_open(&self) -> Result<Option<RedbStore>> {
        let path = &self.file.path;
        // A foreign file where the log goes: refused before anything is made.
        Log::check(path)?;
        let state = cachestore_core::raw::files::check_path(path)?;
        let missing = state == PathState::New && std::fs::symlink_metadata(path).is_err();
        if missing {
            schema::create(path, false)?;
            return Ok(None);
        }
        if state == PathState::Existing {
            schema::inspect(path)?;
        }
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
        };
        let held = file.try_clone().map_err(|e| Error::io("duplicating a file handle", e))?;
        let storage = Storage::staged(file)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        // redb takes its lock first (a holder elsewhere: `InUse`, at once),
        // then reads and, after a crash, repairs the file: in the stage.
        let db = guard(path, "opening", || {
            let mut builder = Database::builder();
            builder.set_cache_size(self.cache_size);
            builder.set_check_integrity_on_open(self.file.check_integrity);
            builder.create_with_backend(storage.clone()).map_err(|e| map_err(path, "opening", e))
        })?;
        let db = Arc::new(Db::new(db));
        // Locked: is it still the file at the path? (It may have been moved
        // aside or replaced before the lock was taken.)
        if !cachestore_core::raw::files::is_same_file(&held, path)? {
            return Ok(None);
        }
        if storage.file_len() == 0 {
            // An empty file (another program's, or left by an older version):
            // a whole new store replaces it while it is held.
            schema::create(path, true)?;
            return Ok(None);
        }
        self.assemble(db, None, || {
            // Every check passed: the open's writes reach the file.
            storage.persist().map_err(|e| Error::io(format!("writing {}", path.display()), e))
        })
        .map(Some)
    }

    /// The open after redb opened the database: the schema checked, the log
    /// replayed, an old format upgraded, then `accept` (which writes the
    /// staged open out), the torn tail of the log cut and the writer started.
    /// `log_io` is the log's storage when it is not the file beside the
    /// database (the crash tests' simulated disk).
    fn assemble(
        &self,
        db: Arc<Db>,
        log_io: Option<Box<dyn log::LogIo>>,
        accept: impl FnOnce() -> Result<()>,
    ) -> Result<RedbStore> {
        let path = &self.file.path;
        let mut engine = RedbWriter {
            db: Arc::clone(&db),
            path: path.clone(),
            durability: self.durability,
            log: None,
            log_io,
            needs_checkpoint: false,
            last_version: 0,
            bound: None,
        };
        let torn = guard(path, "opening", || {
            let format = schema::prepare(&db.get(), path)?;
            let torn = engine.recover()?;
            if format < SCHEMA_VERSION {
                engine.upgrade(format)?;
            }
            engine.last_version = schema::last_version(&db.get(), path)?;
            Ok(torn)
        })?;
        accept()?;
        if let (Some(wal), Some((epoch, end))) = (engine.log.as_mut(), torn) {
            wal.cut_torn_tail(epoch, end)?;
        }
        if let Some(max) = self.file.max_bytes {
            let evicted = schema::meta(&db.get(), path, "evicted_rows")?;
            let clock = self.file.clock.clone();
            engine.bound = Some(guard(path, "opening", || {
                crate::bound::Bound::build(&db, path, max, clock, evicted)
            })?);
            // A file opened with a smaller bound than its rows hold.
            engine.commit_ops(&[])?;
        }
        let bound_counts = engine.bound.as_ref().map(|b| Arc::clone(&b.counts));
        let location = path.display().to_string();
        // Durable writes (each syncs its log record) run on the writer
        // thread, so that no caller's runtime thread waits for an fsync, and
        // concurrent ones are grouped, sharing one transaction and one log
        // record. Buffered writes never sync: a lone one commits inline.
        let writer = match self.durability {
            Durability::Immediate => GroupWriter::start_queued(engine)?,
            Durability::Buffered => GroupWriter::start(engine)?,
        };
        Ok(RedbStore {
            inner: Arc::new(Inner {
                parts: WriterParts {
                    writer,
                    clock: self.file.clock.clone(),
                    capabilities: Capabilities::new()
                        .with_persistent(true)
                        .with_atomic_batch(true)
                        .with_exact_stats(true)
                        .with_conditional_writes(true)
                        .with_touch(true)
                        .with_tags(true)
                        .with_compact(true)
                        .with_max_bytes(self.file.max_bytes)
                        .with_max_payload(self.file.max_payload),
                },
                db,
                bound_counts,
                path: path.clone(),
                location,
                recovered_from: None,
            }),
        })
    }

    /// Opens the store on `storage` for the database and `log_io` for its
    /// log, instead of the files at the path (which only names them in
    /// messages): the crash tests' simulated disk.
    #[cfg(test)]
    pub(crate) fn open_on(
        self,
        storage: impl redb::StorageBackend,
        log_io: Box<dyn log::LogIo>,
    ) -> Result<RedbStore> {
        let path = self.file.path.clone();
        let db = guard(&path, "opening", || {
            let mut builder = Database::builder();
            builder.set_cache_size(self.cache_size);
            builder.create_with_backend(storage).map_err(|e| map_err(&path, "opening", e))
        })?;
        self.assemble(Arc::new(Db::new(db)), Some(log_io), || Ok(()))
    }
}

/// How many times an open is attempted while other processes create or
/// replace the file.
pub(crate) const OPEN_ATTEMPTS: usize = 16;

/// Moves a damaged store (the database and its log) aside while holding it
/// in redb's locking protocol, so that a file another process has open is
/// never moved; returns where the database went.
pub(crate) fn move_aside_held(path: &Path, stamp: i64) -> Result<PathBuf> {
    for _ in 0..OPEN_ATTEMPTS {
        // Write access: an exclusive lock needs it.
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            // No database: only its log was there to be judged.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return cachestore_core::raw::files::move_aside(path, stamp, &[log::SUFFIX]);
            }
            Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
        };
        let held = file.try_clone().map_err(|e| Error::io("duplicating a file handle", e))?;
        let hold = storage::Hold::try_take(file)
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?
            .ok_or_else(|| Error::InUse { path: path.into(), source: None })?;
        if !cachestore_core::raw::files::is_same_file(&held, path)? {
            continue;
        }
        let moved = cachestore_core::raw::files::move_aside(path, stamp, &[log::SUFFIX])?;
        drop(hold);
        return Ok(moved);
    }
    Err(Error::InUse {
        path: path.into(),
        source: Some("the file kept being replaced by other processes".into()),
    })
}

#[cfg(test)]
mod url_tests {
    use super::RedbStoreBuilder;
    use cachestore_core::raw::url::check_refused;

    #[test]
    fn from_url_takes_its_own_options_and_refuses_the_rest() {
        let good = "redb://rel/c.redb?durability=buffered&max_payload=16777216";
        assert!(RedbStoreBuilder::from_url(good).is_ok(), "{good}");
        let typo = format!("{good}&typo=1");
        let refused = [
            "redb:///x.redb?recreate_if_corrupt=perhaps",
            "memory://",
            concat!("memory://", "?typo=1"),
            typo.as_str(),
        ];
        check_refused(RedbStoreBuilder::from_url, &refused).unwrap_or_else(|e| panic!("{e}"));
    }
}
