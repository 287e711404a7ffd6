//! For backend authors only: the toolkit the bundled backends are built
//! with. Applications never need it (the `cachestore` facade does not
//! re-export it), and it is less stable than the contract at the crate's
//! root: it may change in a minor release.
//!
//! - [`builder`]: builder setters and the payload-limit check;
//! - [`group`]: group commit for an engine with one writer;
//! - [`files`]: private file modes, refusing links, moving a damaged file
//!   aside, syncing a directory;
//! - [`encoding`]: a compact headers encoding and a row checksum;
//! - [`url`]: store URLs split into scheme, path and options, for each
//!   backend's `from_url`;
//! - [`scan`]: the range a scan covers, judged from its arguments;
//! - [`single`]: the [`CacheStore`](crate::CacheStore) of a store whose
//!   writes go through a [`group::GroupWriter`] (implement
//!   [`SingleWriterStore`]);
//! - [`prepare_write`] and the time helpers ([`RowTimes`], [`Phase`], the
//!   millisecond conversions), which every backend's `set` starts with.

pub mod builder;
pub mod encoding;
pub mod files;
pub mod group;
pub mod scan;
pub mod single;
pub mod url;

pub use crate::identity::check_payload;
pub use crate::store::{prepare_write, refuse_restore};
pub use crate::time::{Phase, RowTimes, UnixMillis, from_unix_millis, to_unix_millis};
pub use scan::ScanRange;
pub use single::{CompactJob, PreparedRow, SingleWriterStore, WriterParts, refuse_tags};
