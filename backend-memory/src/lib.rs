//! # cachestore-memory
//!
//! An in-memory [`CacheStore`] on [moka](https://docs.rs/moka): the store for
//! tests (with a [`ManualClock`](cachestore_core::ManualClock)) and for caches
//! that need not outlive the process.
//!
//! Every phase decision uses the store's clock. moka's own expiry runs on its
//! own clock, which cannot be injected (moka-rs/moka#522), so it is not used:
//! moka never drops a row by time; dead rows stay until
//! [`purge_expired`](cachestore_core::CacheStore::purge_expired) removes them.
//!
//! An optional size bound ([`MemoryStoreBuilder::max_capacity_bytes`]) lets moka
//! evict rows, live ones included, to stay under it; such a store declares
//! [`Capabilities::evicts_live_rows`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore_core::Result<()> {
//! use std::time::Duration;
//! use cachestore_core::{CacheStore, SetOptions};
//! use cachestore_memory::MemoryStore;
//!
//! let store = MemoryStore::new();
//! store.set("users", "42", "{\"name\":\"Ada\"}".into(), SetOptions::for_duration(Duration::from_secs(60))).await?;
//! let row = store.get("users", "42").await?.expect("fresh");
//! assert_eq!(&row.payload[..], b"{\"name\":\"Ada\"}");
//! # Ok(()) }
//! ```
//!
//! [`CacheStore`]: cachestore_core::CacheStore
//! [`Capabilities::evicts_live_rows`]: cachestore_core::Capabilities::evicts_live_rows
#![deny(missing_docs)]

mod builder;
mod config;
mod row;
mod store;

pub use builder::MemoryStoreBuilder;
pub use config::DEFAULT_MAX_PAYLOAD;
pub use store::MemoryStore;

/// The URL scheme of this backend: `memory://`.
pub const SCHEME: &str = "memory";

/// The crate's README, its example compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
