//! # cachestore-redb
//!
//! A [`CacheStore`] in one [redb](https://docs.rs/redb) file: a pure-Rust,
//! crash-safe embedded store for one process.
//!
//! - **Durable by default**: a `set` that returned `Ok` survives the process
//!   being killed at any moment after. A write is made durable by a
//!   **write-ahead log** beside the file (`<path>-wal`, see [`WAL_SUFFIX`]):
//!   one checksummed record and one `fdatasync`, then a redb commit without
//!   a sync. That is cheaper than a durable redb commit, which syncs every
//!   page it touched (measured: a single `set` 0.8–0.95× raw redb's durable
//!   commit). Every 128 records (or 4 MiB) a checkpoint commits durably to
//!   redb and the log starts over; an open replays what a crash left in it.
//!   Durable writes run on the store's writer thread, so the caller's
//!   runtime thread never waits for the fsync; **group commit** lets
//!   concurrent writers share one record and one sync
//!   (8 writers: 5.7–7.5× raw redb's one durable commit per write).
//!   [`Durability::Buffered`] trades durability for speed.
//! - **Rows** are keyed by redb's `(&str, &str)` tuple key: length-prefixed
//!   elements compared one by one, so no two identities collide and the
//!   table is already in scan order. Every value carries a format version
//!   and a CRC-32 over the value and its identity (see [`row`]): a damaged
//!   row, or one whose stored key was damaged into another, is
//!   [`Error::Corrupt`], never wrong bytes or another key's row.
//! - **Purge and stats scan the rows** (O(rows), reading each value): an
//!   expiry index made purge O(dead rows) but cost 25–30% on every durable
//!   write, and at 100k rows purged no faster than a scan (measured before
//!   the write-ahead log; see the README), so writes won.
//! - **One process**: redb locks the file; a second process gets
//!   [`Error::InUse`] at open, at once, with the path (before the log is
//!   touched).
//! - **The log** is 0600 like the file, at most 4 MiB, and belongs with the
//!   file: copy, move or delete the two together. A file at `<path>-wal`
//!   that is not a cachestore log is [`Error::Incompatible`], untouched. A
//!   torn last record (a write that was never answered) is dropped at open;
//!   damage before an intact record is [`Error::Corrupt`], since replaying
//!   up to it would lose acknowledged writes.
//! - **Bad files**: a SQLite database or a redb file of another program is
//!   [`Error::Incompatible`], random bytes [`Error::Corrupt`]. A refused open
//!   changes no byte of the files it refused: redb marks a file in use and
//!   repairs it after a crash as it opens it, so every write of an open goes
//!   to a stage in memory and reaches the file only once the open has passed
//!   every check (the tables, the format, the log). A panic inside redb (it
//!   can panic on a damaged file), at open, on any call or when the store is
//!   closed, is caught and returned as [`Error::Corrupt`] (or, on close,
//!   swallowed); this needs the default `panic = "unwind"`.
//! - **Creation is atomic**: a new file is made under a temporary name
//!   beside the path, with its tables, synced and then linked into place, so
//!   a crash while a store is created leaves no file or a whole one, and
//!   processes racing to create one file open the same store (one of them;
//!   the others get [`Error::InUse`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| cachestore_core::Error::io("tempdir", e))?;
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_redb::RedbStore;
//!
//! let store = RedbStore::open(dir.path().join("cache.redb"))?;
//! store.set("users", "42", "Ada".into(), SetOptions::for_duration(Duration::from_secs(60))).await?;
//! assert_eq!(&store.get("users", "42").await?.expect("fresh").payload[..], b"Ada");
//! # Ok(()) }
//! ```
//!
//! [`CacheStore`]: cachestore_core::CacheStore
//! [`Error::Corrupt`]: cachestore_core::Error::Corrupt
//! [`Error::InUse`]: cachestore_core::Error::InUse
//! [`Error::Incompatible`]: cachestore_core::Error::Incompatible
#![deny(missing_docs)]

mod log;

pub mod row;

mod schema;

mod bound;
mod builder;
mod config;
mod error;
mod storage;
mod store;
mod writer;

#[cfg(test)]
mod crash_tests;

pub use builder::RedbStoreBuilder;
pub use config::{DEFAULT_CACHE_SIZE, DEFAULT_MAX_PAYLOAD, Durability};
pub use schema::SCHEMA_VERSION;
pub use store::RedbStore;

/// The write-ahead log of the store at `path` is `path` + this suffix
/// (`cache.redb-wal`). It belongs with the database file: copy, move or
/// delete the two together.
pub const WAL_SUFFIX: &str = log::SUFFIX;

/// The URL scheme of this backend: `redb://`.
pub const SCHEME: &str = "redb";

/// The crate's README, its example compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
