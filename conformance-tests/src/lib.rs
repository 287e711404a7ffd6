//! # cachestore-conformance
//!
//! The CacheStore contract (CONTRACT.md) turned into tests, as a library any
//! backend author can run against their own store. Two steps:
//!
//! 1. implement [`StoreFactory`]: open a fresh, empty store on a given
//!    [`ManualClock`] (and reopen it, for a persistent store);
//! 2. call [`conformance_tests!`] in an integration test. It expands to one
//!    `#[test]` per behaviour, so a failure names the behaviour, plus the
//!    model-based property test `model_matches_reference`.
//!
//! ```text
//! // tests/conformance.rs of a backend crate
//! struct Factory;
//!
//! #[cachestore_conformance::async_trait]
//! impl cachestore_conformance::StoreFactory for Factory {
//!     type Store = MyStore;
//!     async fn open(&self, clock: ManualClock) -> cachestore_core::Result<MyStore> {
//!         MyStore::open_temporary(clock)
//!     }
//! }
//!
//! cachestore_conformance::conformance_tests!(Factory);
//! // or, for a store whose rows survive a reopen:
//! // cachestore_conformance::conformance_tests!(Factory, persistent);
//! ```
//!
//! Each behaviour is also a public `async fn` in [`behaviours`], taking the
//! factory, for use outside the macro. Every time the suite uses comes from the
//! `ManualClock`, so runs are deterministic. The property test's case count is
//! 48 by default; `PROPTEST_CASES` raises it.
#![deny(missing_docs)]

pub mod behaviours;
pub mod bound;
pub mod model;
mod support;
pub mod tags;
pub mod versions;

use std::future::Future;

pub use async_trait::async_trait;
pub use cachestore_core::ManualClock;
use cachestore_core::{CacheStore, Error, Result};

/// Opens stores for the suite.
#[async_trait]
pub trait StoreFactory: Send + Sync + 'static {
    /// The store under test.
    type Store: CacheStore;

    /// Opens a fresh, empty store that judges every phase by `clock`. Each
    /// call must return a store independent of every earlier one (a new
    /// temporary file, a new key prefix, a new server database, …).
    async fn open(&self, clock: ManualClock) -> Result<Self::Store>;

    /// Whether the store can be opened here at all: `Err` says why not (no
    /// server to connect to, say). The suite then prints `SKIPPED: …` for
    /// every behaviour, or fails them when `CACHESTORE_REQUIRE_SERVICES=1`
    /// (as CI sets). The default: always available.
    fn available(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Opens a fresh, empty store as [`open`](Self::open) does, with the
    /// size bound `max_bytes` of CONTRACT.md §11, for the behaviours of
    /// [`bound`] and the bounded model run. `Ok(None)`: the store has no
    /// such bound (those behaviours then print a loud `SKIPPED:` line). The
    /// default: `Ok(None)`.
    async fn open_bounded(
        &self,
        clock: ManualClock,
        max_bytes: u64,
    ) -> Result<Option<Self::Store>> {
        drop((clock, max_bytes));
        Ok(None)
    }

    /// Closes `store` and opens the same data again on `clock`: what a
    /// process restart does. Required for stores declared `persistent`; the
    /// default refuses.
    async fn reopen(&self, store: Self::Store, clock: ManualClock) -> Result<Self::Store> {
        drop((store, clock));
        Err(Error::Config {
            message: "this StoreFactory cannot reopen a store; implement StoreFactory::reopen \
                      for a persistent store"
                .into(),
        })
    }
}

/// `true` when the behaviour should run: the factory is available, or
/// not and CI requires services (then this panics with why). Otherwise it
/// prints a loud `SKIPPED: …` line and returns `false`.
pub fn should_run<F: StoreFactory>(factory: &F, behaviour: &str) -> bool {
    match factory.available() {
        Ok(()) => true,
        Err(why) if std::env::var("CACHESTORE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("{behaviour}: {why}, and CACHESTORE_REQUIRE_SERVICES=1 requires it")
        }
        Err(why) => {
            println!("SKIPPED: {behaviour}: {why}");
            eprintln!("SKIPPED: {behaviour}: {why}");
            false
        }
    }
}

/// Runs one behaviour future to completion on a fresh multi-threaded runtime
/// (two workers, so concurrency behaviours really run in parallel). Used by
/// [`conformance_tests!`].
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime for the conformance suite: {e}"))
        .block_on(future)
}

/// Expands to one `#[test]` per behaviour of the contract, plus the
/// model-based property test, for the given [`StoreFactory`] expression.
///
/// `conformance_tests!(factory)` runs every behaviour that applies to a
/// store that is not persistent; `conformance_tests!(factory, persistent)`
/// adds the reopen behaviours. A test checks that the store's
/// [`Capabilities::persistent`](cachestore_core::Capabilities::persistent)
/// matches the form used, so a persistent store cannot skip them by accident.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__conformance_each!(behaviours, $factory; not_persistent_as_declared);
        $crate::__conformance_core!($factory);
    };
    ($factory:expr, persistent $(,)?) => {
        $crate::__conformance_each!(behaviours, $factory;
            persistent_as_declared,
            reopen_keeps_every_row_and_field,
            reopen_keeps_phases_deletes_and_purges,
        );
        $crate::__conformance_core!($factory);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_core {
    ($factory:expr) => {
        $crate::__conformance_each!(behaviours, $factory;
            payload_limit_is_at_least_16_mib,
            missing_rows_read_as_none,
            set_then_get_round_trips_every_field,
            store_works_as_a_trait_object,
            fresh_ends_exactly_at_expires_at,
            stale_ends_exactly_at_stale_until,
            ttl_never_never_expires,
            zero_ttl_and_past_until_store_expired_rows,
            no_stale_phase_without_stale_for,
            reads_are_pure,
            overwrite_replaces_a_fresh_row,
            overwrite_revives_a_stale_row,
            overwrite_replaces_a_dead_row,
            overwrite_drops_old_headers,
            headers_round_trip_exactly,
            payloads_of_zero_bytes_and_16_mib_round_trip,
            payload_over_the_limit_is_refused,
            delimiters_and_nul_never_collide,
            invalid_identities_are_rejected_everywhere,
            unrepresentable_ttls_are_rejected,
            times_are_kept_in_whole_milliseconds,
            clock_moving_back_revives_stale_rows,
            delete_reports_whether_a_live_row_was_there,
            purge_removes_only_dead_rows_and_is_idempotent,
            purged_rows_stay_gone,
            clear_namespace_removes_only_that_namespace,
            clear_all_removes_everything,
            get_many_answers_in_input_order,
            set_many_writes_every_row_later_items_win,
            set_many_with_an_invalid_item_writes_nothing,
            restore_writes_keep_their_stored_at,
            scan_returns_live_rows_in_byte_order,
            scan_resumes_correctly_while_writes_go_on,
            scans_resume_from_any_cursor,
            scans_cross_internal_batches_intact,
            stats_follow_every_operation,
            stats_report_dead_rows_and_the_stored_span,
            concurrent_tasks_keep_rows_whole,
        );
        $crate::__conformance_each!(versions, $factory;
            versions_grow_with_every_write,
            set_if_absent_writes_only_where_no_live_row,
            set_if_version_writes_only_on_a_match,
            conditional_writes_refuse_what_set_refuses,
            touch_renews_a_live_row_in_place,
            concurrent_version_increments_lose_nothing,
        );
        $crate::__conformance_each!(tags, $factory;
            tags_round_trip_and_invalidate_across_namespaces,
            invalidate_tag_counts_only_live_rows,
            writes_replace_tags_and_touch_keeps_them,
            invalid_tags_are_refused_and_limits_round_trip,
            invalidate_tag_races_with_tagged_writes,
            tags_survive_reopen,
        );
        $crate::__conformance_each!(bound, $factory;
            bound_evicts_dead_then_stale_then_least_recently_stored,
            bound_refuses_a_row_larger_than_itself,
            bound_weighs_a_touched_row_whole,
            bound_counts_every_field,
            compact_keeps_every_row_and_frees_space,
        );
        #[test]
        fn model_matches_reference_under_a_size_bound() {
            let factory = $factory;
            if $crate::should_run(&factory, "model_matches_reference_under_a_size_bound") {
                $crate::model::run_bounded(&factory);
            }
        }
        #[test]
        fn model_matches_reference() {
            let factory = $factory;
            if $crate::should_run(&factory, "model_matches_reference") {
                $crate::model::run(&factory);
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    ($module:ident, $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let factory = $factory;
                if $crate::should_run(&factory, stringify!($name)) {
                    $crate::block_on($crate::$module::$name(&factory));
                }
            }
        )*
    };
}
