//! The `CacheStore` trait: the contract every backend keeps (CONTRACT.md §3).

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Error;
use crate::error::Result;
use crate::identity::{check_identity, check_payload, check_tags};
use crate::time::{Clock, RowTimes, SharedClock};
use crate::types::{
    Capabilities, Condition, Entry, Page, ScanCursor, SetItem, SetOptions, Stats, TouchOptions,
    WriteOutcome,
};

/// A persistent cache of rows keyed by `(namespace, key)`, with per-row TTL
/// and a stale window.
///
/// # The contract
///
/// Every backend keeps these rules, and the conformance suite
/// (`cachestore-conformance`) tests exactly them. `CONTRACT.md`, at the
/// repository's root, says the same with the rules for files, processes and
/// errors.
///
/// **Rows.** A namespace is 1..=255 bytes of UTF-8 and a key 1..=4096 bytes,
/// any character (`:`, `/` and NUL included). No delimiter makes two identities
/// collide: `("a:b", "c")` and `("a", "b:c")` are different rows. An invalid
/// identity is [`Error::InvalidKey`](crate::Error::InvalidKey) on every
/// operation, and nothing is written. Payloads of 0 bytes up to at least
/// 16 MiB are accepted; larger ones may be refused with
/// [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge), never truncated.
/// Headers come back exactly as written. Times are kept in whole milliseconds
/// since the Unix epoch (the written time rounded down). A row read back is
/// the row written under that identity, or an error: never another row's
/// data (a damaged row is [`Error::Corrupt`](crate::Error::Corrupt)).
///
/// **Phases**, judged at the store clock's `now`, never the OS clock:
/// - *fresh* while `expires_at` is `None` or `now < expires_at`;
/// - *stale* while `expires_at <= now < stale_until`;
/// - *dead* once `stale_until <= now`: invisible to every read, counted by
///   nothing but [`purge_expired`](CacheStore::purge_expired).
///
/// The clock may go backwards; phases are always judged at the current `now`,
/// so a stale row can be fresh again at an earlier `now`. A row removed by
/// `purge_expired` stays removed. On a [self-expiring](Capabilities::self_expiring)
/// engine a row that has once been dead may be gone at any moment after.
///
/// **Concurrency.** Each single-row operation is atomic: a read returns the
/// old row or the new one, never a mix. After `set` returns `Ok`, every later
/// read on any handle of the store sees that row.
///
/// **No panics**, on any input, stored file or server reply: failures are
/// [`Error`](crate::Error)s.
///
/// The trait is object safe: `Arc<dyn CacheStore>` works.
///
/// # Example
///
/// Any store, here the memory one on a manual clock: a row written with a
/// TTL, a stale window, a header and a tag, through its phases.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore_core::Result<()> {
/// use std::time::Duration;
/// use cachestore_core::{Bytes, CacheStore, Clock, ManualClock, SetOptions};
/// use cachestore_memory::MemoryStore;
///
/// let clock = ManualClock::new();
/// let store = MemoryStore::with_clock(clock.clone());
/// let options = SetOptions::for_duration(Duration::from_secs(60))
///     .stale_for(Duration::from_secs(3600))
///     .header("etag", "\"v1\"")
///     .tag("movie:603");
/// store.set("tmdb", "movie/603", Bytes::from_static(b"The Matrix"), options).await?;
///
/// let row = store.get("tmdb", "movie/603").await?.expect("fresh");
/// assert_eq!(row.headers["etag"], "\"v1\"");
/// clock.advance(Duration::from_secs(61));
/// assert!(store.get("tmdb", "movie/603").await?.is_none(), "expired: not fresh");
/// let stale = store.get_stale("tmdb", "movie/603").await?.expect("still served stale");
/// assert!(!stale.is_fresh(clock.now()));
/// assert_eq!(store.invalidate_tag("movie:603").await?, 1);
/// assert!(store.get_stale("tmdb", "movie/603").await?.is_none());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait CacheStore: Send + Sync + 'static {
    /// The fresh row at `(namespace, key)`, or `None` if it is missing, stale
    /// or dead.
    ///
    /// A pure read: it deletes nothing and changes no stored field, whatever
    /// phase the row is in.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>>;

    /// The row at `(namespace, key)` if it is fresh or stale, else `None`.
    ///
    /// The offline fallback: serve old data while the upstream is down.
    /// [`Entry::is_fresh`] tells which phase it is in. A pure read.
    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>>;

    /// Inserts or overwrites the whole row atomically, with `stored_at = now`
    /// by the store clock, `expires_at` from `options.ttl` and
    /// `stale_until = expires_at + options.stale_for`. A *restore* write
    /// ([`SetOptions::stored_at`], for import and migrate) is stored at the
    /// time given instead, which must not be after `now`; a `Ttl::For`
    /// counts from it (CONTRACT.md §3).
    ///
    /// Overwriting replaces every field, headers and tags included;
    /// overwriting a stale or dead row makes it the new row. `Ttl::For(0)`
    /// and an `Until` in the past store a row that is already expired. A
    /// time that overflows, or a `stored_at` after `now`, is
    /// [`Error::InvalidTtl`](crate::Error::InvalidTtl), an invalid identity
    /// [`Error::InvalidKey`](crate::Error::InvalidKey), tags over the limits
    /// of CONTRACT.md §9 [`Error::InvalidTags`](crate::Error::InvalidTags),
    /// tags on a store without [`Capabilities::tags`]
    /// [`Error::Unsupported`](crate::Error::Unsupported), a payload over
    /// [`Capabilities::max_payload`] [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge);
    /// in each case nothing is written and the old row is intact.
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
    ) -> Result<()>;

    /// [`set`](CacheStore::set) under a [`Condition`], checked and written
    /// in one atomic step, also across processes (SQLite) and machines
    /// (Redis) (CONTRACT.md §7). A condition that does not hold writes
    /// nothing and is not an error: the answer says so and gives the live
    /// row's version. Every write of a row (this one, `set`, `set_many`,
    /// `touch`) gives it a version greater than any the store handed out
    /// before (on Redis, two unconditional writes racing from two clients
    /// may land out of that order; a version is still never reused, see
    /// CONTRACT.md §7); [`Entry::version`] reads it.
    ///
    /// The basis of read-modify-write (a counter several workers keep:
    /// read, compute, `set_if(IfVersion(read.version))`, retry when not
    /// written) and of a lease (`IfAbsent` with a short TTL).
    ///
    /// A conditional write is stored at `now`: one given a
    /// [`SetOptions::stored_at`] is [`Error::InvalidTtl`].
    ///
    /// Needs [`Capabilities::conditional_writes`]; the default is
    /// [`Error::Unsupported`].
    async fn set_if(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        let _ = (namespace, key, payload, options, condition);
        Err(Error::Unsupported { backend: "this store", operation: "set_if" })
    }

    /// Renews the fresh or stale row in place (CONTRACT.md §8): `stored_at
    /// = now`, a new expiry and stale window from `options`, a new version;
    /// the payload untouched and not rewritten; headers replaced when
    /// `options` has some, else kept. Returns the new version, or `None`
    /// (and writes nothing) when no live row is there. How an HTTP `304 Not
    /// Modified` renews a cached response.
    ///
    /// Needs [`Capabilities::touch`]; the default is [`Error::Unsupported`].
    async fn touch(
        &self,
        namespace: &str,
        key: &str,
        options: TouchOptions,
    ) -> Result<Option<u64>> {
        let _ = (namespace, key, options);
        Err(Error::Unsupported { backend: "this store", operation: "touch" })
    }

    /// Removes every row that carries `tag`, in every namespace
    /// (CONTRACT.md §9), and returns how many of them were fresh or stale.
    /// A row that carried the tag when the call started is invisible to
    /// every read after it returns; a row written with the tag while the
    /// call runs may or may not go. The cost grows with the rows carrying
    /// the tag, not with the store.
    ///
    /// "Forget everything about this album, whichever API it came from"
    /// without one namespace per group. An empty or over-long tag is
    /// [`Error::InvalidTags`](crate::Error::InvalidTags). Needs
    /// [`Capabilities::tags`]; the default is [`Error::Unsupported`].
    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        let _ = tag;
        Err(Error::Unsupported { backend: "this store", operation: "invalidate_tag" })
    }

    /// Returns the store's files to the size its rows need (SQLite's
    /// `VACUUM`, redb's compaction) and says how many bytes of files it
    /// freed (CONTRACT.md §11). Rows are unchanged; reads and writes of
    /// other callers wait or go on as the engine allows, never fail.
    /// Blocking work runs off the caller's runtime thread. Needs
    /// [`Capabilities::compact`]; the default is [`Error::Unsupported`].
    async fn compact(&self) -> Result<u64> {
        Err(Error::Unsupported { backend: "this store", operation: "compact" })
    }

    /// Removes the row. `true` if a fresh or stale row was there; `false` for
    /// a missing or dead one (which is removed all the same).
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool>;

    /// Removes every dead row and returns how many went. Fresh and stale rows
    /// are untouched. Running it twice in a row returns 0 the second time. On a
    /// [self-expiring](Capabilities::self_expiring) engine the count may be 0.
    async fn purge_expired(&self) -> Result<u64>;

    /// Removes every row of `namespace` (and no other: `"a"` does not clear
    /// `"ab"`), returning how many fresh or stale rows went.
    async fn clear_namespace(&self, namespace: &str) -> Result<u64>;

    /// Removes every row, returning how many fresh or stale rows went.
    async fn clear_all(&self) -> Result<u64>;

    /// [`get`](CacheStore::get) for each identity, results in input order
    /// (duplicates allowed). Any invalid identity fails the whole call.
    async fn get_many(&self, ids: &[(&str, &str)]) -> Result<Vec<Option<Entry>>> {
        for (namespace, key) in ids {
            check_identity(namespace, key)?;
        }
        let mut out = Vec::with_capacity(ids.len());
        for (namespace, key) in ids {
            out.push(self.get(namespace, key).await?);
        }
        Ok(out)
    }

    /// [`set`](CacheStore::set) for each item, in order (a later item for
    /// the same identity wins).
    ///
    /// Every item is validated first: an invalid identity, TTL or payload
    /// fails the call with nothing written. With
    /// [`Capabilities::atomic_batch`] the batch commits all or nothing even
    /// when the engine fails midway; without it, an engine failure may leave a
    /// prefix of the batch written.
    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let clock = self.clock();
        let limit = self.capabilities().max_payload;
        for item in &items {
            prepare_write(
                clock.as_ref(),
                limit,
                &item.namespace,
                &item.key,
                &item.payload,
                &item.options,
            )?;
        }
        for item in items {
            self.set(&item.namespace, &item.key, item.payload, item.options).await?;
        }
        Ok(())
    }

    /// One page of at most `limit` fresh and stale rows in `(namespace, key)`
    /// byte order, starting strictly after `after`; only `namespace`'s rows
    /// when it is given. Any `limit` is legal, up to `usize::MAX` (a backend
    /// reads in batches of its own, never allocating by the limit); 0 is
    /// taken as 1.
    ///
    /// Resumable: pass the page's [`Page::next`] as `after` until it is
    /// `None`. A row present for the whole scan is returned exactly once,
    /// whatever is written meanwhile; rows written or removed during the scan
    /// may or may not appear. Used by export and migration.
    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page>;

    /// Fresh and stale row counts and payload bytes, overall and per
    /// namespace. Exact where [`Capabilities::exact_stats`], else an
    /// estimate with [`Stats::exact`] `false`.
    async fn stats(&self) -> Result<Stats>;

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The clock this store judges every phase by.
    fn clock(&self) -> SharedClock;
}

/// A store behind `dyn CacheStore` shows what it can do (its
/// [`Capabilities`]), so that an `Arc<dyn CacheStore>` can sit in a
/// `#[derive(Debug)]` struct.
impl std::fmt::Debug for dyn CacheStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("dyn CacheStore")
            .field("capabilities", &self.capabilities())
            .finish_non_exhaustive()
    }
}

/// Validates a write and computes its row times: the identity, the tags,
/// the payload size against `max_payload`, and the TTL at the clock's `now`
/// (or at [`SetOptions::stored_at`], which must not be after `now`).
///
/// Every backend calls this first in `set`, so that all of them refuse the
/// same inputs with the same errors.
pub fn prepare_write(
    clock: &dyn Clock,
    max_payload: u64,
    namespace: &str,
    key: &str,
    payload: &[u8],
    options: &SetOptions,
) -> Result<RowTimes> {
    check_identity(namespace, key)?;
    check_tags(&options.tags)?;
    check_payload(payload.len(), max_payload)?;
    let now = clock.now();
    let stored_at = match options.stored_at {
        Some(at) if at > now => {
            return Err(Error::InvalidTtl { reason: "stored_at is after the store clock's now" });
        }
        Some(at) => at,
        None => now,
    };
    RowTimes::resolve(stored_at, options.ttl, options.stale_for)
}

/// [`Error::InvalidTtl`] for a conditional write given a
/// [`SetOptions::stored_at`]: `set_if` is judged and stored at `now`.
pub fn refuse_restore(options: &SetOptions) -> Result<()> {
    match options.stored_at {
        Some(_) => Err(Error::InvalidTtl {
            reason: "set_if writes at now; stored_at is for set and set_many (restoring rows)",
        }),
        None => Ok(()),
    }
}
