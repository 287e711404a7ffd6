//! # cachestore-core
//!
//! The contract shared by every cachestore backend: the [`CacheStore`] trait,
//! rows ([`Entry`]), write options ([`SetOptions`], [`Ttl`]), clocks
//! ([`Clock`], [`SystemClock`], [`ManualClock`]), [`Capabilities`],
//! [`Stats`] and the one [`Error`] type.
//!
//! Applications normally use the `cachestore` facade crate, which re-exports
//! all of this. Backend authors implement [`CacheStore`] and prove it with the
//! `cachestore-conformance` suite.
#![deny(missing_docs)]

pub mod encoding;
mod error;
pub mod files;
pub mod group;
mod identity;
mod redact;
mod store;
mod time;
mod types;

pub use error::{BoxError, Error, IdentityPart, Result};
pub use identity::{
    MAX_KEY_LEN, MAX_NAMESPACE_LEN, MIN_PAYLOAD_LIMIT, check_identity, check_namespace,
    check_payload,
};
pub use redact::redact_url;
pub use store::{CacheStore, prepare_write};
pub use time::{
    Clock, ManualClock, Phase, RowTimes, SharedClock, SystemClock, Ttl, UnixMillis,
    from_unix_millis, to_unix_millis,
};
pub use types::{
    Capabilities, Entry, Headers, NamespaceStats, Page, ScanCursor, ScanItem, SetItem, SetOptions,
    Stats,
};

pub use async_trait::async_trait;
pub use bytes::Bytes;
