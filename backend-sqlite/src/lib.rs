//! # cachestore-sqlite
//!
//! A [`CacheStore`] in one SQLite file: persistent, crash-safe, shared by
//! several processes.
//!
//! - **WAL** journal; `synchronous=NORMAL` by default, so a `set` that
//!   returned `Ok` survives the process being killed at any moment after;
//!   [`Durability::Full`] adds power-loss durability (an fsync per commit).
//! - **Reads** run inline on a pool of read connections: readers never wait
//!   on each other or on the writer, and pay no thread hop.
//! - **Writes** go through one writer connection with **group commit**:
//!   writes that arrive while another commits share its next commit. Every
//!   write transaction is `BEGIN IMMEDIATE`, so contention with other
//!   processes is waited out by the busy timeout, never surfaced at once.
//! - **Files**: the database is created mode 0600 before SQLite opens it (so
//!   SQLite creates `-wal` and `-shm` 0600 too), missing directories 0700. A
//!   symbolic link as the database path is refused.
//! - **Bad files**: another program's database, random bytes, a truncated
//!   file or a newer schema version are a typed error at open and the file is
//!   left untouched. [`SqliteStoreBuilder::recreate_if_corrupt`] moves a
//!   damaged file aside (never deletes it) and starts afresh.
//! - **Checksums**: every row carries a CRC-32, checked on read, so a damaged
//!   page is [`Error::Corrupt`], never wrong bytes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| cachestore_core::Error::io("tempdir", e))?;
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open(dir.path().join("cache.sqlite"))?;
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

mod bound;
mod builder;
mod config;
mod error;
mod row;
mod schema;
mod store;
mod writer;

pub use builder::SqliteStoreBuilder;
pub use config::{DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_PAYLOAD, Durability};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::SqliteStore;

/// The URL scheme of this backend: `sqlite://`.
pub const SCHEME: &str = "sqlite";

/// The crate's README, its example compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
