//! The values that cross the [`CacheStore`](crate::CacheStore) API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::identity::MIN_PAYLOAD_LIMIT;
use crate::time::{Phase, RowTimes, Ttl, from_unix_millis};

/// A row's headers: any number of UTF-8 pairs, returned exactly as stored.
pub type Headers = BTreeMap<String, String>;

/// A row's tags (CONTRACT.md §9): at most [`MAX_TAGS`](crate::MAX_TAGS)
/// strings of 1..=[`MAX_TAG_LEN`](crate::MAX_TAG_LEN) bytes each, a set
/// (no order, no duplicates). [`CacheStore::invalidate_tag`](crate::CacheStore::invalidate_tag)
/// removes every row carrying a tag, across namespaces.
pub type Tags = BTreeSet<String>;

/// A row as a read returns it.
///
/// All times are whole milliseconds since the Unix epoch (the written time
/// rounded down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes. A memory store hands these out without copying.
    pub payload: Bytes,
    /// The stored headers, exactly as written.
    pub headers: Headers,
    /// When the row was written, by the store's clock.
    pub stored_at: SystemTime,
    /// End of freshness; `None`: never expires.
    pub expires_at: Option<SystemTime>,
    /// End of retention (`>= expires_at`); `None` only when `expires_at` is `None`.
    pub stale_until: Option<SystemTime>,
    /// The row's version (CONTRACT.md §7): set by the store on every write
    /// of the row, greater than any version the store handed out before.
    /// `0` for a row written before the store kept versions, and on a store
    /// without [`Capabilities::conditional_writes`].
    pub version: u64,
    /// The tags written with the row (CONTRACT.md §9); empty when none were,
    /// and on a store without [`Capabilities::tags`].
    pub tags: Tags,
}

impl Entry {
    /// Builds an entry from a payload, headers and the millisecond times a
    /// backend stored. Returns `None` if a time cannot be represented as a
    /// `SystemTime` on this platform (treat the row as corrupt).
    pub fn from_parts(payload: Bytes, headers: Headers, times: RowTimes) -> Option<Entry> {
        let opt = |t: Option<i64>| match t {
            None => Some(None),
            Some(ms) => from_unix_millis(ms).map(Some),
        };
        Some(Entry {
            payload,
            headers,
            stored_at: from_unix_millis(times.stored_at)?,
            expires_at: opt(times.expires_at)?,
            stale_until: opt(times.stale_until)?,
            version: 0,
            tags: Tags::new(),
        })
    }

    /// [`Entry::from_parts`] with the row's version.
    pub fn from_versioned_parts(
        payload: Bytes,
        headers: Headers,
        times: RowTimes,
        version: u64,
    ) -> Option<Entry> {
        Entry::from_parts(payload, headers, times).map(|e| Entry { version, ..e })
    }

    /// The entry with `tags`.
    #[must_use]
    pub fn with_tags(self, tags: Tags) -> Entry {
        Entry { tags, ..self }
    }

    /// The entry's phase at `now`.
    pub fn phase(&self, now: SystemTime) -> Phase {
        match self.expires_at {
            None => Phase::Fresh,
            Some(expires) if now < expires => Phase::Fresh,
            Some(expires) if now < self.stale_until.unwrap_or(expires) => Phase::Stale,
            Some(_) => Phase::Dead,
        }
    }

    /// `true` while the entry is fresh at `now`: `get` would return it.
    /// An entry from `get_stale` that is not fresh is being served stale.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.phase(now) == Phase::Fresh
    }

    /// How long ago the entry was stored, at `now` (zero if `now` is earlier).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.stored_at).unwrap_or_default()
    }
}

/// How to write a row: TTL, stale window, headers and tags.
///
/// ```
/// use std::time::Duration;
/// use cachestore_core::{SetOptions, Ttl};
///
/// let opts = SetOptions::new()
///     .ttl(Ttl::For(Duration::from_secs(3600)))
///     .stale_for(Duration::from_secs(86_400))
///     .header("content-type", "application/json")
///     .tag("artist:radiohead");
/// assert_eq!(opts.headers.len(), 1);
/// assert!(opts.tags.contains("artist:radiohead"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "options do nothing until they are passed to `set`"]
pub struct SetOptions {
    /// How long the row is fresh. Default: [`Ttl::Never`].
    pub ttl: Ttl,
    /// How long after `expires_at` the row may still be served stale by
    /// `get_stale`. Default: zero, no stale phase.
    pub stale_for: Duration,
    /// The row's headers.
    pub headers: Headers,
    /// The row's tags (CONTRACT.md §9): at most 16, each 1..=255 bytes;
    /// more or longer is [`Error::InvalidTags`](crate::Error::InvalidTags).
    /// Needs [`Capabilities::tags`] when not empty.
    pub tags: Tags,
    /// The row's `stored_at`, instead of the store clock's `now`: a
    /// *restore* write, for a row exported from another store (import,
    /// migrate), whose age must survive the move. Not after `now`
    /// ([`Error::InvalidTtl`](crate::Error::InvalidTtl) otherwise); a
    /// `Ttl::For` counts from it. Only `set` and `set_many` take it: a
    /// conditional write is always stored at `now`. `None` (the default):
    /// now.
    pub stored_at: Option<SystemTime>,
}

impl SetOptions {
    /// Never expires, no stale window, no headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fresh for `ttl` after the write.
    pub fn for_duration(ttl: Duration) -> Self {
        Self::new().ttl(Ttl::For(ttl))
    }

    /// Sets the TTL.
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the stale window.
    pub fn stale_for(mut self, stale_for: Duration) -> Self {
        self.stale_for = stale_for;
        self
    }

    /// Replaces the headers.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Adds one header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds one tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }

    /// Adds tags.
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets [`SetOptions::stored_at`]: a restore write.
    pub fn stored_at(mut self, at: SystemTime) -> Self {
        self.stored_at = Some(at);
        self
    }
}

/// One row of a [`set_many`](crate::CacheStore::set_many) batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetItem {
    /// The row's namespace.
    pub namespace: String,
    /// The row's key.
    pub key: String,
    /// The bytes to store.
    pub payload: Bytes,
    /// TTL, stale window and headers.
    pub options: SetOptions,
}

impl SetItem {
    /// A batch item.
    pub fn new(
        namespace: impl Into<String>,
        key: impl Into<String>,
        payload: impl Into<Bytes>,
        options: SetOptions,
    ) -> Self {
        SetItem { namespace: namespace.into(), key: key.into(), payload: payload.into(), options }
    }
}

/// Where a [`scan`](crate::CacheStore::scan) resumes: the identity of the last
/// row of the previous page. The next page starts strictly after it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScanCursor {
    /// Namespace of the last row returned.
    pub namespace: String,
    /// Key of the last row returned.
    pub key: String,
}

/// One row of a scan page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanItem {
    /// The row's namespace.
    pub namespace: String,
    /// The row's key.
    pub key: String,
    /// The row.
    pub entry: Entry,
}

/// One page of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Fresh and stale rows in `(namespace, key)` byte order.
    pub items: Vec<ScanItem>,
    /// Where to resume; `None` when the scan is complete. A page may be
    /// followed by an empty last page.
    pub next: Option<ScanCursor>,
}

impl Page {
    /// A page of `items` (in scan order); when `more` rows follow, the
    /// cursor to resume from is the last item's identity.
    pub fn from_items(items: Vec<ScanItem>, more: bool) -> Page {
        let next = match items.last() {
            Some(last) if more => {
                Some(ScanCursor { namespace: last.namespace.clone(), key: last.key.clone() })
            }
            _ => None,
        };
        Page { items, next }
    }
}

/// Row counts and sizes of one namespace.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceStats {
    /// Fresh rows.
    pub fresh: u64,
    /// Stale rows.
    pub stale: u64,
    /// Payload bytes of the fresh and stale rows.
    pub payload_bytes: u64,
    /// Dead rows not yet removed (CONTRACT.md §10): what `purge_expired`
    /// would remove. On a [self-expiring](Capabilities::self_expiring)
    /// engine, the dead rows the engine has not dropped yet.
    pub dead: u64,
    /// The earliest `stored_at` among the fresh and stale rows.
    pub oldest: Option<SystemTime>,
    /// The latest `stored_at` among the fresh and stale rows.
    pub newest: Option<SystemTime>,
}

impl NamespaceStats {
    fn add(&mut self, phase: Phase, rows: u64, payload_bytes: u64, stored: Option<(i64, i64)>) {
        match phase {
            Phase::Fresh => self.fresh += rows,
            Phase::Stale => self.stale += rows,
            Phase::Dead => {
                self.dead += rows;
                return;
            }
        }
        self.payload_bytes += payload_bytes;
        if let Some((first, last)) = stored {
            let (first, last) = (from_unix_millis(first), from_unix_millis(last));
            self.oldest = match (self.oldest, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.newest = match (self.newest, last) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// Counts rows one at a time into [`Stats`], faster than
/// [`Stats::record`] for many rows: per namespace and phase it keeps a
/// row count, payload bytes and the span of `stored_at`, and makes one
/// record of each at the end. Rows that come grouped by namespace (a scan
/// in key order) skip the lookup of their namespace.
#[derive(Debug, Default)]
pub struct Tally {
    groups: Vec<(String, [TallyGroup; 3])>,
    index: std::collections::HashMap<String, usize>,
    last: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
struct TallyGroup {
    rows: u64,
    bytes: u64,
    first: i64,
    last: i64,
}

const EMPTY_GROUP: TallyGroup = TallyGroup { rows: 0, bytes: 0, first: i64::MAX, last: i64::MIN };

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Counts one row of `namespace` in `phase`, with `payload_bytes`,
    /// stored at `stored_at` (ms since the Unix epoch).
    pub fn add(&mut self, namespace: &str, phase: Phase, payload_bytes: u64, stored_at: i64) {
        let at = match self.last {
            Some(i) if self.groups[i].0 == namespace => i,
            _ => match self.index.get(namespace) {
                Some(&i) => i,
                None => {
                    self.groups.push((namespace.to_owned(), [EMPTY_GROUP; 3]));
                    self.index.insert(namespace.to_owned(), self.groups.len() - 1);
                    self.groups.len() - 1
                }
            },
        };
        self.last = Some(at);
        let g = &mut self.groups[at].1[match phase {
            Phase::Fresh => 0,
            Phase::Stale => 1,
            Phase::Dead => 2,
        }];
        g.rows += 1;
        g.bytes += payload_bytes;
        g.first = g.first.min(stored_at);
        g.last = g.last.max(stored_at);
    }

    /// The stats counted, exact or an estimate.
    pub fn into_stats(self, exact: bool) -> Stats {
        let mut stats = Stats::new(exact);
        for (ns, phases) in &self.groups {
            for (phase, g) in [Phase::Fresh, Phase::Stale, Phase::Dead].into_iter().zip(phases) {
                let span = (g.rows > 0).then_some((g.first, g.last));
                stats.record_many(ns, phase, g.rows, g.bytes, span);
            }
        }
        stats
    }
}

/// The bytes a row counts for against a size bound (CONTRACT.md §11): its
/// namespace and key, its headers and tags as core encodes them (a `u32`
/// count, then per header a `u32` length before name and value, per tag a
/// `u32` length before it; nothing for none), and its payload. A backend
/// counts the same number for the same row, so the bound means one thing
/// on every backend; the files hold more (indexes, pages, logs), within the
/// factor each backend documents.
///
/// ```
/// use cachestore_core::{Headers, Tags, row_bytes};
/// let mut headers = Headers::new();
/// headers.insert("etag".into(), "v1".into());
/// let tags: Tags = ["album:1".to_owned()].into_iter().collect();
/// // 3 + 1 identity, 4 + 4 + 4 + 4 + 2 headers, 4 + 4 + 7 tags, 10 payload.
/// assert_eq!(row_bytes("api", "k", &headers, &tags, 10), 4 + 18 + 15 + 10);
/// assert_eq!(row_bytes("api", "k", &Headers::new(), &Tags::new(), 0), 4);
/// ```
pub fn row_bytes(
    namespace: &str,
    key: &str,
    headers: &Headers,
    tags: &Tags,
    payload_len: usize,
) -> u64 {
    let len = namespace.len()
        + key.len()
        + crate::raw::encoding::encoded_headers_len(headers)
        + crate::raw::encoding::encoded_tags_len(tags)
        + payload_len;
    len as u64
}

/// Row counts and sizes of a store, overall and per namespace: fresh and
/// stale rows with their payload bytes and the span of their `stored_at`,
/// dead rows not yet removed, and the size of the store's files
/// (CONTRACT.md §10). A pure read that never decodes payloads.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Fresh rows.
    pub fresh: u64,
    /// Stale rows.
    pub stale: u64,
    /// Payload bytes of the fresh and stale rows.
    pub payload_bytes: u64,
    /// Dead rows not yet removed (see [`NamespaceStats::dead`]).
    pub dead: u64,
    /// The earliest `stored_at` among the fresh and stale rows.
    pub oldest: Option<SystemTime>,
    /// The latest `stored_at` among the fresh and stale rows.
    pub newest: Option<SystemTime>,
    /// Every file of the store on disk (database, logs, `-wal`, `-shm`), in
    /// bytes; `None` where the store has no file.
    pub disk_bytes: Option<u64>,
    /// Rows the store has evicted to keep its size bound (CONTRACT.md §11),
    /// counted in the store's files since the bound was first set; 0 for a
    /// store that never evicts.
    pub evicted: u64,
    /// The bytes of every row present (dead ones included), by
    /// [`row_bytes`](crate::row_bytes): what the size bound is kept
    /// against. `None` where the store does not count them.
    pub stored_bytes: Option<u64>,
    /// `true` when these numbers are exact; `false` when they are an estimate
    /// (see [`Capabilities::exact_stats`]).
    pub exact: bool,
    /// The same numbers per namespace; namespaces without rows are absent.
    pub namespaces: BTreeMap<String, NamespaceStats>,
}

impl Stats {
    /// Empty stats that claim to be exact (`exact == true`) or an estimate.
    pub fn new(exact: bool) -> Self {
        Stats { exact, ..Stats::default() }
    }

    /// Counts one row of `namespace` in `phase`, with `payload_bytes`,
    /// stored at `stored_at` (ms since the Unix epoch).
    pub fn record(&mut self, namespace: &str, phase: Phase, payload_bytes: u64, stored_at: i64) {
        self.record_many(namespace, phase, 1, payload_bytes, Some((stored_at, stored_at)));
    }

    /// Counts `rows` rows of `namespace` in `phase`, with `payload_bytes` in
    /// all and `stored`, the earliest and latest `stored_at` among them (ms;
    /// ignored for dead rows). For backends that count with one query per
    /// group.
    pub fn record_many(
        &mut self,
        namespace: &str,
        phase: Phase,
        rows: u64,
        payload_bytes: u64,
        stored: Option<(i64, i64)>,
    ) {
        if rows == 0 {
            return;
        }
        let ns = match self.namespaces.get_mut(namespace) {
            Some(ns) => ns,
            None => self.namespaces.entry(namespace.to_owned()).or_default(),
        };
        ns.add(phase, rows, payload_bytes, stored);
        let mut total = NamespaceStats {
            fresh: self.fresh,
            stale: self.stale,
            payload_bytes: self.payload_bytes,
            dead: self.dead,
            oldest: self.oldest,
            newest: self.newest,
        };
        total.add(phase, rows, payload_bytes, stored);
        (self.fresh, self.stale, self.payload_bytes, self.dead, self.oldest, self.newest) =
            (total.fresh, total.stale, total.payload_bytes, total.dead, total.oldest, total.newest);
    }

    /// The share of rows that are dead, 0.0 to 1.0 (0 with no rows).
    pub fn dead_ratio(&self) -> f64 {
        let all = self.fresh + self.stale + self.dead;
        if all == 0 { 0.0 } else { self.dead as f64 / all as f64 }
    }
}

/// What a backend can do. The conformance suite reads these to decide which
/// behaviours apply.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Rows survive closing and reopening the store (and `kill -9`).
    pub persistent: bool,
    /// Several processes may use one store at once.
    pub multi_process: bool,
    /// `set_many` commits all rows or none.
    pub atomic_batch: bool,
    /// `stats` is exact rather than an estimate.
    pub exact_stats: bool,
    /// The engine drops dead rows by itself (Redis key expiry), so
    /// `purge_expired` may find nothing to do.
    pub self_expiring: bool,
    /// The store may evict fresh or stale rows to stay under a size bound
    /// (a bounded memory store). Such a store is a cache of the cache: a row
    /// written may later be missing before it is dead.
    pub evicts_live_rows: bool,
    /// The largest payload accepted, in bytes; at least 16 MiB. Larger ones
    /// are [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge).
    pub max_payload: u64,
    /// Rows carry versions and [`CacheStore::set_if`](crate::CacheStore::set_if)
    /// writes under a [`Condition`], atomically (CONTRACT.md §7).
    pub conditional_writes: bool,
    /// [`CacheStore::touch`](crate::CacheStore::touch) renews a row in place
    /// (CONTRACT.md §8).
    pub touch: bool,
    /// Rows carry tags and [`CacheStore::invalidate_tag`](crate::CacheStore::invalidate_tag)
    /// removes them by tag (CONTRACT.md §9). Without it a write with tags
    /// is [`Error::Unsupported`](crate::Error::Unsupported).
    pub tags: bool,
    /// [`CacheStore::compact`](crate::CacheStore::compact) returns the
    /// store's files to the size its rows need (CONTRACT.md §11).
    pub compact: bool,
    /// The store's size bound (CONTRACT.md §11): after a write commits, its
    /// rows hold at most this many bytes by [`row_bytes`](crate::row_bytes),
    /// older rows evicted first. `None`: no bound of that kind (a bounded
    /// memory store weighs its rows its own way and says so with
    /// [`evicts_live_rows`](Self::evicts_live_rows) alone).
    pub max_bytes: Option<u64>,
}

impl Capabilities {
    /// Every flag off and the minimum payload limit of 16 MiB.
    pub const fn new() -> Self {
        Capabilities {
            persistent: false,
            multi_process: false,
            atomic_batch: false,
            exact_stats: false,
            self_expiring: false,
            evicts_live_rows: false,
            max_payload: MIN_PAYLOAD_LIMIT,
            conditional_writes: false,
            touch: false,
            tags: false,
            compact: false,
            max_bytes: None,
        }
    }

    /// Sets [`Capabilities::tags`].
    pub const fn with_tags(mut self, on: bool) -> Self {
        self.tags = on;
        self
    }

    /// Sets [`Capabilities::conditional_writes`].
    pub const fn with_conditional_writes(mut self, on: bool) -> Self {
        self.conditional_writes = on;
        self
    }

    /// Sets [`Capabilities::touch`].
    pub const fn with_touch(mut self, on: bool) -> Self {
        self.touch = on;
        self
    }

    /// Sets [`Capabilities::persistent`].
    pub const fn with_persistent(mut self, on: bool) -> Self {
        self.persistent = on;
        self
    }

    /// Sets [`Capabilities::multi_process`].
    pub const fn with_multi_process(mut self, on: bool) -> Self {
        self.multi_process = on;
        self
    }

    /// Sets [`Capabilities::atomic_batch`].
    pub const fn with_atomic_batch(mut self, on: bool) -> Self {
        self.atomic_batch = on;
        self
    }

    /// Sets [`Capabilities::exact_stats`].
    pub const fn with_exact_stats(mut self, on: bool) -> Self {
        self.exact_stats = on;
        self
    }

    /// Sets [`Capabilities::self_expiring`].
    pub const fn with_self_expiring(mut self, on: bool) -> Self {
        self.self_expiring = on;
        self
    }

    /// Sets [`Capabilities::evicts_live_rows`].
    pub const fn with_evicts_live_rows(mut self, on: bool) -> Self {
        self.evicts_live_rows = on;
        self
    }

    /// Sets [`Capabilities::compact`].
    pub const fn with_compact(mut self, on: bool) -> Self {
        self.compact = on;
        self
    }

    /// Sets [`Capabilities::max_bytes`] (and, with a bound,
    /// [`evicts_live_rows`](Self::evicts_live_rows)).
    pub const fn with_max_bytes(mut self, bound: Option<u64>) -> Self {
        self.max_bytes = bound;
        if bound.is_some() {
            self.evicts_live_rows = true;
        }
        self
    }

    /// Sets [`Capabilities::max_payload`].
    pub const fn with_max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::new()
    }
}

/// The condition of a [`CacheStore::set_if`](crate::CacheStore::set_if)
/// (CONTRACT.md §7). Checking it and writing are one atomic step, also
/// across processes and machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// No fresh or stale row is there (a dead row counts as absent).
    IfAbsent,
    /// The live (fresh or stale) row has this version.
    IfVersion(u64),
}

impl Condition {
    /// Whether the condition holds when the live row has version
    /// `current` (`None`: no live row).
    pub fn holds(self, current: Option<u64>) -> bool {
        match self {
            Condition::IfAbsent => current.is_none(),
            Condition::IfVersion(v) => current == Some(v),
        }
    }
}

/// What a [`CacheStore::set_if`](crate::CacheStore::set_if) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// The row was written with this version.
    Written {
        /// The new row's version.
        version: u64,
    },
    /// The condition did not hold; nothing was written.
    NotWritten {
        /// The live row's version; `None` when no live row is there.
        current: Option<u64>,
    },
}

impl WriteOutcome {
    /// Whether the row was written.
    pub fn is_written(&self) -> bool {
        matches!(self, WriteOutcome::Written { .. })
    }

    /// The version written, if the row was.
    pub fn version(&self) -> Option<u64> {
        match self {
            WriteOutcome::Written { version } => Some(*version),
            WriteOutcome::NotWritten { .. } => None,
        }
    }
}

/// How [`CacheStore::touch`](crate::CacheStore::touch) renews a row: a new
/// TTL and stale window from now, and new headers if given (else the row's
/// are kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "options do nothing until passed to `touch`"]
pub struct TouchOptions {
    /// The new TTL, from now.
    pub ttl: Ttl,
    /// The new stale window.
    pub stale_for: Duration,
    /// New headers; `None` keeps the row's.
    pub headers: Option<Headers>,
}

impl TouchOptions {
    /// Fresh for `ttl` from now, no stale window, headers kept.
    pub fn new(ttl: Ttl) -> Self {
        TouchOptions { ttl, stale_for: Duration::ZERO, headers: None }
    }

    /// Sets [`TouchOptions::stale_for`].
    pub fn stale_for(mut self, window: Duration) -> Self {
        self.stale_for = window;
        self
    }

    /// Replaces the row's headers with `headers`.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = Some(headers);
        self
    }

    /// The [`SetOptions`] these become for a row holding `headers` and
    /// `tags` now (a touch keeps the row's tags).
    pub fn into_set_options(self, headers: Headers, tags: Tags) -> SetOptions {
        SetOptions {
            ttl: self.ttl,
            stale_for: self.stale_for,
            headers: self.headers.unwrap_or(headers),
            tags,
            stored_at: None,
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn stats_and_capabilities_round_trip_through_json() {
        let mut stats = Stats::new(true);
        stats.record("movies", Phase::Fresh, 10, 1_700_000_000_000);
        stats.record("movies", Phase::Dead, 3, 1_700_000_000_001);
        stats.disk_bytes = Some(4096);
        let json = serde_json::to_string(&stats).expect("serialize");
        assert!(json.contains("\"dead\":1") && json.contains("\"movies\""), "{json}");
        assert_eq!(serde_json::from_str::<Stats>(&json).expect("deserialize"), stats);
        let caps = Capabilities::new().with_touch(true).with_max_payload(1 << 25);
        let json = serde_json::to_string(&caps).expect("serialize");
        assert_eq!(serde_json::from_str::<Capabilities>(&json).expect("deserialize"), caps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stored_at: i64, expires_at: Option<i64>, stale_until: Option<i64>) -> Entry {
        let times = RowTimes { stored_at, expires_at, stale_until };
        Entry::from_parts(Bytes::new(), Headers::new(), times).expect("representable times")
    }

    fn at(ms: i64) -> SystemTime {
        from_unix_millis(ms).expect("representable")
    }

    #[test]
    fn an_entry_changes_phase_exactly_at_its_times() {
        let e = entry(1_000, Some(2_000), Some(3_000));
        assert_eq!(e.phase(at(1_999)), Phase::Fresh);
        assert_eq!(e.phase(at(2_000)), Phase::Stale, "stale at expires_at");
        assert_eq!(e.phase(at(2_999)), Phase::Stale);
        assert_eq!(e.phase(at(3_000)), Phase::Dead, "dead at stale_until");
        assert!(e.is_fresh(at(1_999)) && !e.is_fresh(at(2_000)));
        let no_window = entry(1_000, Some(2_000), Some(2_000));
        assert_eq!(no_window.phase(at(2_000)), Phase::Dead);
        assert_eq!(entry(1_000, None, None).phase(at(i64::from(i32::MAX))), Phase::Fresh);
    }

    #[test]
    fn an_entrys_age_counts_from_stored_at() {
        let e = entry(1_000, None, None);
        assert_eq!(e.age(at(3_500)), Duration::from_millis(2_500));
        assert_eq!(e.age(at(500)), Duration::ZERO, "a clock behind the row");
    }

    #[test]
    fn a_tally_counts_what_record_counts() {
        let rows = [
            ("b", Phase::Fresh, 5, 30),
            ("a", Phase::Stale, 7, 10),
            ("b", Phase::Dead, 100, 5),
            ("a", Phase::Fresh, 1, 40),
            ("b", Phase::Fresh, 2, 20),
        ];
        let mut tally = Tally::new();
        let mut stats = Stats::new(true);
        for (ns, phase, bytes, stored) in rows {
            tally.add(ns, phase, bytes, stored);
            stats.record(ns, phase, bytes, stored);
        }
        let counted = tally.into_stats(true);
        assert_eq!(counted, stats);
        let b = &counted.namespaces["b"];
        assert_eq!((b.fresh, b.stale, b.dead, b.payload_bytes), (2, 0, 1, 7));
        assert_eq!((b.oldest, b.newest), (Some(at(20)), Some(at(30))));
        assert_eq!((counted.fresh, counted.stale, counted.dead), (3, 1, 1));
        assert_eq!(Tally::new().into_stats(false), Stats::new(false));
    }
}
