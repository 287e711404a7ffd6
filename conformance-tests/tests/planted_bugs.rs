//! Proof that the suite has teeth: stores with one planted bug each, every
//! one caught by the behaviour that names it and by the model test.
//!
//! Each broken store is the example `BTreeStore` with one method done wrong,
//! the way real caches get it wrong.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use cachestore_conformance::{
    ManualClock, StoreFactory, async_trait, behaviours, block_on, bound, model, tags, versions,
};
use cachestore_core::raw::{Phase, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Condition, Entry, Page, Result, ScanCursor, SetItem,
    SetOptions, SharedClock, Stats, TouchOptions, WriteOutcome, check_identity,
};
use support::btree_store::{BTreeStore, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// `get_stale` returns expired rows however long ago `stale_until` passed.
    IgnoresStaleUntil,
    /// `get` treats `now == expires_at` as fresh.
    FreshAtExpiresAt,
    /// The identity is stored as `"{ns}:{key}"` and split at the first `:`.
    CompositeKeyCollides,
    /// An overwrite merges the new headers into the old ones.
    KeepsOldHeaders,
    /// A resumed scan skips the first row after the cursor.
    ScanSkipsAtPageBoundary,
    /// `purge_expired` also removes stale rows.
    PurgeRemovesStaleRows,
    /// `delete` answers `true` for a dead row.
    DeleteCountsDeadRows,
    /// `get` deletes the row it finds expired (lazy expiry).
    GetDeletesExpiredRows,
    /// `clear_namespace("a")` also clears `"ab"` and `"a:b"`.
    ClearNamespaceByPrefix,
    /// `stats` counts dead rows as stale.
    StatsCountDeadRows,
    /// `set_many` writes items until it meets an invalid one.
    SetManyWritesAPrefix,
    /// A namespace's scan resumed from another namespace's cursor compares
    /// the cursor's key alone, as if the cursor were in that namespace.
    ScanTakesAForeignCursorsKey,
    /// The scan reads the engine in batches of 1,000 rows and resumes each
    /// batch one row too far.
    ScanSkipsAtInternalBatch,
    /// `set_if` writes whatever the condition says.
    SetIfIgnoresCondition,
    /// `set_if` checks the condition, lets go of the lock, then writes: two
    /// writers can both pass the same check.
    SetIfChecksThenWrites,
    /// A row's version counts its own writes (1, 2, ...), so rows share
    /// versions and a version can come back.
    VersionsPerRow,
    /// `touch` without new headers clears the row's headers.
    TouchDropsHeaders,
    /// `touch` renews a dead row too.
    TouchRevivesDeadRows,
    /// `invalidate_tag` removes the tag's rows in the first namespace that
    /// has any, as if tags were per namespace.
    InvalidateTagInOneNamespace,
    /// `invalidate_tag("a")` also removes rows tagged `"ab"` (a prefix
    /// match on a flattened tag list).
    InvalidateTagMatchesPrefixes,
    /// `invalidate_tag` counts the dead rows it removes too.
    InvalidateTagCountsDeadRows,
    /// An overwrite keeps the old row's tags along with the new ones (an
    /// index never cleaned).
    OverwriteKeepsOldTags,
    /// `touch` writes the row again without its tags.
    TouchDropsTags,
    /// Over the bound, the most recently stored row goes first.
    EvictsNewestFirst,
    /// Over the bound, the least recently stored row goes first, whatever
    /// its phase (plain LRU): a fresh row before a dead one.
    EvictsByAgeAlone,
    /// The bound weighs payloads only: headers, tags and identities are
    /// free, so the rows hold more than the bound.
    BoundWeighsPayloadsOnly,
}

/// Bugs the model test cannot express (its key space is small, its cursors
/// its own): the named behaviours alone catch them.
const BEYOND_THE_MODEL: [Bug; 4] = [
    Bug::SetManyWritesAPrefix,
    Bug::ScanTakesAForeignCursorsKey,
    Bug::ScanSkipsAtInternalBatch,
    // The model runs one operation at a time: no race to lose.
    Bug::SetIfChecksThenWrites,
];

struct Broken {
    inner: BTreeStore,
    bug: Bug,
}

impl Broken {
    fn id(&self, namespace: &str, key: &str) -> (String, String) {
        if self.bug == Bug::CompositeKeyCollides {
            let joined = format!("{namespace}:{key}");
            if let Some((ns, key)) = joined.split_once(':') {
                return (ns.to_owned(), key.to_owned());
            }
        }
        (namespace.to_owned(), key.to_owned())
    }

    fn now(&self) -> i64 {
        to_unix_millis(self.inner.clock.now()).expect("clock in range")
    }

    fn row(&self, namespace: &str, key: &str) -> Option<Row> {
        self.inner.lock().get(&self.id(namespace, key)).cloned()
    }
}

#[async_trait]
impl CacheStore for Broken {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        let (ns, k) = self.id(namespace, key);
        let now = self.now();
        match (self.bug, self.row(namespace, key)) {
            (Bug::FreshAtExpiresAt, Some(row)) if row.times.expires_at == Some(now) => {
                row.entry().map(Some)
            }
            (Bug::GetDeletesExpiredRows, Some(row)) if row.times.phase(now) != Phase::Fresh => {
                self.inner.lock().remove(&(ns, k));
                Ok(None)
            }
            _ => self.inner.get(&ns, &k).await,
        }
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        match (self.bug, self.row(namespace, key)) {
            (Bug::IgnoresStaleUntil, Some(row)) => row.entry().map(Some),
            _ => {
                let (ns, k) = self.id(namespace, key);
                self.inner.get_stale(&ns, &k).await
            }
        }
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        mut options: SetOptions,
    ) -> Result<()> {
        check_identity(namespace, key)?;
        if let (Bug::KeepsOldHeaders, Some(old)) = (self.bug, self.row(namespace, key)) {
            for (name, value) in old.headers {
                options.headers.entry(name).or_insert(value);
            }
        }
        if let (Bug::OverwriteKeepsOldTags, Some(old)) = (self.bug, self.row(namespace, key)) {
            options.tags.extend(old.tags);
        }
        let (ns, k) = self.id(namespace, key);
        let old = self.row(namespace, key).map_or(0, |r| r.version);
        self.inner.set(&ns, &k, payload, options).await?;
        if self.bug == Bug::VersionsPerRow
            && let Some(row) = self.inner.lock().get_mut(&(ns, k))
        {
            row.version = old + 1;
        }
        Ok(())
    }

    async fn set_if(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        check_identity(namespace, key)?;
        let (ns, k) = self.id(namespace, key);
        match self.bug {
            Bug::SetIfIgnoresCondition => {
                self.inner.set(&ns, &k, payload, options).await?;
                let version = self.row(namespace, key).map_or(0, |r| r.version);
                Ok(WriteOutcome::Written { version })
            }
            Bug::SetIfChecksThenWrites => {
                let now = self.now();
                let current =
                    BTreeStore::live_version(&self.inner.lock(), &(ns.clone(), k.clone()), now);
                let holds = condition.holds(current);
                if !holds {
                    return Ok(WriteOutcome::NotWritten { current });
                }
                tokio::task::yield_now().await;
                self.inner.set(&ns, &k, payload, options).await?;
                let version = self.row(namespace, key).map_or(0, |r| r.version);
                Ok(WriteOutcome::Written { version })
            }
            _ => self.inner.set_if(&ns, &k, payload, options, condition).await,
        }
    }

    async fn touch(
        &self,
        namespace: &str,
        key: &str,
        mut options: TouchOptions,
    ) -> Result<Option<u64>> {
        check_identity(namespace, key)?;
        let (ns, k) = self.id(namespace, key);
        match self.bug {
            Bug::TouchDropsHeaders => {
                options.headers = Some(options.headers.unwrap_or_default());
            }
            Bug::TouchRevivesDeadRows => {
                if let Some(row) = self.inner.lock().get_mut(&(ns.clone(), k.clone())) {
                    // Make it look live for the real touch below.
                    row.times.expires_at = None;
                    row.times.stale_until = None;
                }
            }
            _ => {}
        }
        let touched = self.inner.touch(&ns, &k, options).await?;
        if self.bug == Bug::TouchDropsTags
            && let Some(row) = self.inner.lock().get_mut(&(ns, k))
        {
            row.tags.clear();
        }
        Ok(touched)
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        cachestore_core::check_tag(tag)?;
        let now = self.now();
        let mut rows = self.inner.lock();
        let first_ns =
            rows.iter().find(|(_, r)| r.tags.contains(tag)).map(|((ns, _), _)| ns.clone());
        let mut n = 0;
        rows.retain(|(ns, _), row| {
            let carries = match self.bug {
                Bug::InvalidateTagInOneNamespace => {
                    row.tags.contains(tag) && first_ns.as_deref() == Some(ns.as_str())
                }
                Bug::InvalidateTagMatchesPrefixes => row.tags.iter().any(|t| t.starts_with(tag)),
                _ => row.tags.contains(tag),
            };
            if carries
                && (row.times.phase(now).is_live() || self.bug == Bug::InvalidateTagCountsDeadRows)
            {
                n += 1;
            }
            !carries
        });
        Ok(n)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        let (ns, k) = self.id(namespace, key);
        if self.bug == Bug::DeleteCountsDeadRows {
            return Ok(self.inner.lock().remove(&(ns, k)).is_some());
        }
        self.inner.delete(&ns, &k).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        if self.bug == Bug::PurgeRemovesStaleRows {
            let now = self.now();
            let mut rows = self.inner.lock();
            let before = rows.len();
            rows.retain(|_, row| row.times.phase(now) == Phase::Fresh);
            return Ok((before - rows.len()) as u64);
        }
        self.inner.purge_expired().await
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        if self.bug == Bug::ClearNamespaceByPrefix {
            cachestore_core::check_namespace(namespace)?;
            let now = self.now();
            let mut live = 0;
            self.inner.lock().retain(|(ns, _), row| {
                let remove = ns.starts_with(namespace);
                live += u64::from(remove && row.times.phase(now).is_live());
                !remove
            });
            return Ok(live);
        }
        self.inner.clear_namespace(namespace).await
    }

    async fn clear_all(&self) -> Result<u64> {
        self.inner.clear_all().await
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        if self.bug == Bug::SetManyWritesAPrefix {
            for item in items {
                self.set(&item.namespace, &item.key, item.payload, item.options).await?;
            }
            return Ok(());
        }
        let clock = self.clock();
        for item in &items {
            cachestore_core::raw::prepare_write(
                clock.as_ref(),
                u64::MAX,
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

    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        if self.bug == Bug::ScanTakesAForeignCursorsKey
            && let (Some(ns), Some(at)) = (namespace, after)
        {
            let own = ScanCursor { namespace: ns.to_owned(), key: at.key.clone() };
            return self.inner.scan(namespace, Some(&own), limit).await;
        }
        if self.bug == Bug::ScanSkipsAtInternalBatch {
            let limit = limit.max(1);
            let mut items = Vec::new();
            let mut at = after.cloned();
            let mut first = true;
            loop {
                let batch = self.inner.scan(namespace, at.as_ref(), 1_000).await?;
                let mut rows = batch.items;
                if !first && !rows.is_empty() {
                    rows.remove(0);
                }
                first = false;
                for row in rows {
                    if items.len() == limit {
                        return Ok(Page::from_items(items, true));
                    }
                    items.push(row);
                }
                match batch.next {
                    Some(next) => at = Some(next),
                    None => return Ok(Page::from_items(items, false)),
                }
            }
        }
        let mut page = self.inner.scan(namespace, after, limit).await?;
        if self.bug == Bug::ScanSkipsAtPageBoundary && after.is_some() && !page.items.is_empty() {
            page.items.remove(0);
        }
        Ok(page)
    }

    async fn stats(&self) -> Result<Stats> {
        if self.bug == Bug::StatsCountDeadRows {
            let now = self.now();
            let mut stats = Stats::new(true);
            for ((ns, _), row) in self.inner.lock().iter() {
                let phase = match row.times.phase(now) {
                    Phase::Dead => Phase::Stale,
                    p => p,
                };
                stats.record(ns, phase, row.payload.len() as u64, row.times.stored_at);
            }
            return Ok(stats);
        }
        self.inner.stats().await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock()
    }
}

struct Factory(Bug);

#[async_trait]
impl StoreFactory for Factory {
    type Store = Broken;

    async fn open(&self, clock: ManualClock) -> Result<Broken> {
        Ok(Broken { inner: BTreeStore::new(clock), bug: self.0 })
    }

    async fn open_bounded(&self, clock: ManualClock, max_bytes: u64) -> Result<Option<Broken>> {
        let mut inner = BTreeStore::bounded(clock, max_bytes);
        match self.0 {
            Bug::EvictsNewestFirst => inner.rank = |row, _| (0, -row.times.stored_at),
            Bug::EvictsByAgeAlone => inner.rank = |row, _| (0, row.times.stored_at),
            Bug::BoundWeighsPayloadsOnly => inner.weigh = |_, _, row| row.payload.len() as u64,
            _ => {}
        }
        Ok(Some(Broken { inner, bug: self.0 }))
    }
}

/// Runs one behaviour and returns whether it failed (panicked).
fn fails<Fut: std::future::Future<Output = ()>>(behaviour: impl FnOnce() -> Fut) -> bool {
    catch_unwind(AssertUnwindSafe(|| block_on(behaviour()))).is_err()
}

/// The model test on `bug`, with a fixed seed so that this proof does not
/// depend on luck, and enough cases to find every planted bug.
fn model_catches(bug: Bug) {
    let failure = model::check_with(&Factory(bug), 512, Some(0x5eed))
        .expect_err(&format!("the model test missed {bug:?}"));
    assert!(failure.contains("minimal failing sequence"), "{failure}");
    // Shrinking works: the minimal sequence is short.
    let steps = failure.lines().filter(|l| l.starts_with("   ") || l.starts_with("  ")).count();
    assert!(
        steps <= 12,
        "the failing sequence of {bug:?} did not shrink ({steps} steps):\n{failure}"
    );
}

/// One test per planted bug: each named behaviour of `$module` (and the
/// model test, unless the bug is beyond it) must fail on the broken store.
macro_rules! planted {
    ($module:ident: $($test:ident: $bug:ident caught by $($behaviour:ident),+;)*) => {$(
        #[test]
        fn $test() {
            let factory = Factory(Bug::$bug);
            $(
                assert!(
                    fails(|| $module::$behaviour(&factory)),
                    concat!("behaviour ", stringify!($behaviour), " missed ", stringify!($bug))
                );
            )+
            if !BEYOND_THE_MODEL.contains(&Bug::$bug) {
                model_catches(Bug::$bug);
            }
        }
    )*};
}

planted! { behaviours:
    ignores_stale_until: IgnoresStaleUntil caught by stale_ends_exactly_at_stale_until;
    fresh_at_expires_at: FreshAtExpiresAt caught by fresh_ends_exactly_at_expires_at;
    composite_key_collides: CompositeKeyCollides caught by delimiters_and_nul_never_collide;
    keeps_old_headers: KeepsOldHeaders caught by overwrite_drops_old_headers;
    scan_skips_at_page_boundary: ScanSkipsAtPageBoundary caught by scan_returns_live_rows_in_byte_order, scan_resumes_correctly_while_writes_go_on;
    purge_removes_stale_rows: PurgeRemovesStaleRows caught by purge_removes_only_dead_rows_and_is_idempotent;
    delete_counts_dead_rows: DeleteCountsDeadRows caught by delete_reports_whether_a_live_row_was_there;
    get_deletes_expired_rows: GetDeletesExpiredRows caught by reads_are_pure;
    clear_namespace_by_prefix: ClearNamespaceByPrefix caught by clear_namespace_removes_only_that_namespace;
    stats_count_dead_rows: StatsCountDeadRows caught by stats_follow_every_operation;
    set_many_writes_a_prefix: SetManyWritesAPrefix caught by set_many_with_an_invalid_item_writes_nothing;
    scan_takes_a_foreign_cursors_key: ScanTakesAForeignCursorsKey caught by scans_resume_from_any_cursor;
    scan_skips_at_internal_batch: ScanSkipsAtInternalBatch caught by scans_cross_internal_batches_intact;
}

planted! { versions:
    set_if_ignores_condition: SetIfIgnoresCondition caught by set_if_absent_writes_only_where_no_live_row, set_if_version_writes_only_on_a_match;
    set_if_checks_then_writes: SetIfChecksThenWrites caught by concurrent_version_increments_lose_nothing;
    versions_per_row: VersionsPerRow caught by versions_grow_with_every_write;
    touch_drops_headers: TouchDropsHeaders caught by touch_renews_a_live_row_in_place;
    touch_revives_dead_rows: TouchRevivesDeadRows caught by touch_renews_a_live_row_in_place;
}

planted! { tags:
    invalidate_tag_in_one_namespace: InvalidateTagInOneNamespace caught by tags_round_trip_and_invalidate_across_namespaces;
    invalidate_tag_matches_prefixes: InvalidateTagMatchesPrefixes caught by tags_round_trip_and_invalidate_across_namespaces;
    invalidate_tag_counts_dead_rows: InvalidateTagCountsDeadRows caught by invalidate_tag_counts_only_live_rows;
    overwrite_keeps_old_tags: OverwriteKeepsOldTags caught by writes_replace_tags_and_touch_keeps_them;
    touch_drops_tags: TouchDropsTags caught by writes_replace_tags_and_touch_keeps_them;
}

/// One test per planted bug of the size bound: each named behaviour of
/// [`bound`] and the bounded model run must fail on the broken store.
macro_rules! planted_bound {
    ($($test:ident: $bug:ident caught by $($behaviour:ident),+;)*) => {$(
        #[test]
        fn $test() {
            let factory = Factory(Bug::$bug);
            $(
                assert!(
                    fails(|| bound::$behaviour(&factory)),
                    concat!("behaviour ", stringify!($behaviour), " missed ", stringify!($bug))
                );
            )+
            let failure = model::check_bounded_with(&factory, 512, Some(0x5eed))
                .expect_err(concat!("the bounded model missed ", stringify!($bug)));
            assert!(failure.contains("minimal failing sequence"), "{failure}");
        }
    )*};
}

planted_bound! {
    evicts_newest_first: EvictsNewestFirst caught by bound_evicts_dead_then_stale_then_least_recently_stored, bound_refuses_a_row_larger_than_itself;
    evicts_by_age_alone: EvictsByAgeAlone caught by bound_evicts_dead_then_stale_then_least_recently_stored;
    bound_weighs_payloads_only: BoundWeighsPayloadsOnly caught by bound_counts_every_field, bound_refuses_a_row_larger_than_itself;
}

/// The correct store passes the same checks, so the failures above are the
/// bugs' doing, not the harness's.
#[test]
fn the_unbroken_store_passes_the_same_checks() {
    struct Correct;
    #[async_trait]
    impl StoreFactory for Correct {
        type Store = BTreeStore;
        async fn open(&self, clock: ManualClock) -> Result<BTreeStore> {
            Ok(BTreeStore::new(clock))
        }
    }
    assert!(!fails(|| behaviours::reads_are_pure(&Correct)));
    assert!(!fails(|| behaviours::scan_resumes_correctly_while_writes_go_on(&Correct)));
    assert!(!fails(|| behaviours::scans_resume_from_any_cursor(&Correct)));
    assert!(!fails(|| behaviours::scans_cross_internal_batches_intact(&Correct)));
    assert!(!fails(|| versions::versions_grow_with_every_write(&Correct)));
    assert!(!fails(|| versions::set_if_absent_writes_only_where_no_live_row(&Correct)));
    assert!(!fails(|| versions::set_if_version_writes_only_on_a_match(&Correct)));
    assert!(!fails(|| versions::touch_renews_a_live_row_in_place(&Correct)));
    assert!(!fails(|| versions::concurrent_version_increments_lose_nothing(&Correct)));
    assert!(!fails(|| tags::tags_round_trip_and_invalidate_across_namespaces(&Correct)));
    assert!(!fails(|| tags::invalidate_tag_counts_only_live_rows(&Correct)));
    assert!(!fails(|| tags::writes_replace_tags_and_touch_keeps_them(&Correct)));
    model::check_with(&Correct, 512, Some(0x5eed))
        .expect("the correct store passes the model test");
    struct CorrectBounded;
    #[async_trait]
    impl StoreFactory for CorrectBounded {
        type Store = BTreeStore;
        async fn open(&self, clock: ManualClock) -> Result<BTreeStore> {
            Ok(BTreeStore::new(clock))
        }
        async fn open_bounded(&self, clock: ManualClock, max: u64) -> Result<Option<BTreeStore>> {
            Ok(Some(BTreeStore::bounded(clock, max)))
        }
    }
    assert!(!fails(|| bound::bound_evicts_dead_then_stale_then_least_recently_stored(
        &CorrectBounded
    )));
    assert!(!fails(|| bound::bound_refuses_a_row_larger_than_itself(&CorrectBounded)));
    assert!(!fails(|| bound::bound_counts_every_field(&CorrectBounded)));
    model::check_bounded_with(&CorrectBounded, 512, Some(0x5eed))
        .expect("the correct bounded store passes the bounded model test");
}
