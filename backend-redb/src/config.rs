//! How a store is configured: durability and the defaults.

/// The default payload limit: 64 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default page cache: 1 GiB, redb's own default (an upper bound: the
/// cache grows with the pages read, up to the file's size), so that reads
/// and `stats` of a large file stay in memory. Set it lower with
/// [`RedbStoreBuilder::cache_size`](crate::RedbStoreBuilder::cache_size) where memory is short.
pub const DEFAULT_CACHE_SIZE: usize = 1024 * 1024 * 1024;

/// How durable a committed write is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Every write is durable before it is answered (a log record and one
    /// `fdatasync`, shared by concurrent writers): a `set` that returned
    /// `Ok` survives a crash or `kill -9`.
    #[default]
    Immediate,
    /// Nothing is synced and nothing logged: faster writes, but a crash or
    /// `kill -9` loses every write since the last durable commit, which
    /// happens only on [`RedbStore::flush`](crate::RedbStore::flush) and when the store is dropped.
    /// The file stays consistent either way. Pages freed between durable
    /// commits are reused only after one, so flush now and then to keep the
    /// file small. This breaks the contract's durability promise on purpose;
    /// use it for caches that are cheap to refill.
    Buffered,
}
