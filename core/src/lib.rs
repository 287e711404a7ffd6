//! # cachestore-core
//!
//! The contract shared by every cachestore backend: the [`CacheStore`] trait,
//! rows ([`Entry`]), write options ([`SetOptions`], [`Ttl`]), clocks
//! ([`Clock`], [`SystemClock`], [`ManualClock`]), [`Capabilities`],
//! [`Stats`] and the one [`Error`] type.
//!
//! Applications normally use the `cachestore` facade crate, which re-exports
//! all of this. Backend authors implement [`CacheStore`] and prove it with the
//! `cachestore-conformance` suite; what only they need (group commit, file
//! helpers, row encodings, [`raw::prepare_write`]) is in [`raw`], which is
//! less stable and which the facade does not re-export.
#![deny(missing_docs)]

mod error;
mod identity;
pub mod raw;
mod redact;
mod store;
mod time;
mod types;

pub use error::{BoxError, Error, IdentityPart, Result};
pub use identity::{
    MAX_KEY_LEN, MAX_NAMESPACE_LEN, MAX_TAG_LEN, MAX_TAGS, MIN_PAYLOAD_LIMIT, check_identity,
    check_namespace, check_tag, check_tags,
};
pub use redact::redact_url;
pub use store::CacheStore;
pub use time::{Clock, ManualClock, SharedClock, SystemClock, Ttl};
pub use types::{
    Capabilities, Condition, Entry, Headers, NamespaceStats, Page, ScanCursor, ScanItem, SetItem,
    SetOptions, Stats, Tags, Tally, TouchOptions, WriteOutcome, row_bytes,
};

pub use async_trait::async_trait;
pub use bytes::Bytes;

/// The crate's README, its example compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
