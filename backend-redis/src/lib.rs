//! # cachestore-redis
//!
//! A [`CacheStore`] on Redis, single node or Redis Cluster: the store for
//! more than one machine, as correct as the embedded ones.
//!
//! - **Phases are judged by the store clock** from fields stored in each
//!   row; Redis only drops rows physically, with `PX = stale_until - now`
//!   (by the store clock, never an absolute time from this machine) plus a
//!   grace period ([`RedisStoreBuilder::expiry_grace`], default 60 s) so that
//!   clock skew between machines never drops a live row. A row already dead
//!   when written is removed, not kept.
//! - **Keys**: a row is the hash `{prefix}{hex(ns)}:r:{key}` (fields `s`
//!   stale_until, `e` expires_at, `m` stored_at, headers and a CRC-32, `p`
//!   payload); each namespace keeps its keys in the sorted set
//!   `{prefix}{hex(ns)}:i` (all scores 0, so lexicographic ranges are byte
//!   order) and the namespaces are listed in `{prefix}namespaces`. The hash
//!   tag `{hex(ns)}` puts a namespace's rows and index in one cluster slot;
//!   hex has no braces, so no two identities share a key. No `KEYS` command
//!   is ever used.
//! - **Atomic**: `set` and `delete` are MULTI/EXEC on one slot; `purge` and
//!   `clear` are Lua scripts, one per batch of 500 rows of a namespace (a
//!   short server call each: one script over a whole namespace held the
//!   server 207 ms for 60k rows, and outlived the response timeout at 1M). `get_many` and `set_many` are
//!   pipelined (on a single node `set_many` is one MULTI/EXEC: all or
//!   nothing).
//! - **Connections** reconnect by themselves (`ConnectionManager`, or the
//!   cluster client); connect and command timeouts come from the URL. A
//!   server that cannot be reached, and a cluster slot whose master is down
//!   or moving (for writes as for reads), is [`Error::Unavailable`]
//!   (retriable). A wrong password and a user without ACL permission for a
//!   command the store uses are [`Error::Config`] (not retriable: fix the
//!   credentials or grant the commands).
//! - **A failed write writes nothing**: Redis does not roll back a MULTI/EXEC
//!   whose command fails at run time, so every command is checked before it
//!   is sent (a physical expiry is capped at about 31,700 years, as Redis
//!   refuses a `PEXPIRE` past its clock's range).
//!
//! `purge_expired`, `stats` and `clear_all` visit every namespace's index,
//! in batches of 500 rows: O(rows), in calls that stay short. The namespace list only grows (removing a name could race a
//! concurrent first write to it); scanning an emptied namespace costs one
//! cheap call.
//!
//! [`CacheStore`]: cachestore_core::CacheStore
//! [`Error::Unavailable`]: cachestore_core::Error::Unavailable
//! [`Error::Config`]: cachestore_core::Error::Config
#![deny(missing_docs)]

mod builder;
mod config;
mod connection;
mod error;
mod row;
mod schema;
mod store;

pub use builder::RedisStoreBuilder;
pub use config::{DEFAULT_EXPIRY_GRACE, DEFAULT_MAX_PAYLOAD, DEFAULT_PREFIX};
pub use store::RedisStore;

/// The URL scheme of this backend: `redis://` (and `rediss://` with the
/// `tls` feature).
pub const SCHEME: &str = "redis";

/// The crate's README, its example compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
