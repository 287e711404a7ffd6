//! # cachestore
//!
//! Persistent caches with per-row TTL and a stale window, on a backend you
//! pick by feature flag. Every backend keeps one contract, the
//! [`CacheStore`] trait, and passes one shared conformance suite
//! (`cachestore-conformance`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cachestore::Result<()> {
//! use std::time::Duration;
//! use cachestore::{CacheStore, MemoryStore, SetOptions};
//!
//! let store = MemoryStore::new();
//! let options = SetOptions::for_duration(Duration::from_secs(3600))
//!     .stale_for(Duration::from_secs(86_400))
//!     .header("content-type", "application/json");
//! store.set("tmdb", "movie/603", r#"{"title":"The Matrix"}"#.into(), options).await?;
//! let row = store.get("tmdb", "movie/603").await?.expect("fresh for an hour");
//! assert_eq!(row.headers["content-type"], "application/json");
//! # Ok(()) }
//! ```
//!
//! | feature | backend |
//! |---|---|
//! | `memory` (default) | [`MemoryStore`], in memory on moka |
#![deny(missing_docs)]

pub use cachestore_core::*;

/// The in-memory backend (feature `memory`).
#[cfg(feature = "memory")]
pub mod memory {
    pub use cachestore_memory::*;
}

#[cfg(feature = "memory")]
pub use cachestore_memory::{MemoryStore, MemoryStoreBuilder};

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
