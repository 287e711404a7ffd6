//! The model-based property test: random operation sequences run against the
//! store and against a plain `BTreeMap` reference model, compared after every
//! step.
//!
//! The key space is small (nine identities, six namespaces) so that
//! overwrites and namespace collisions are common, and it holds identities a
//! delimiter or NUL could confuse. Times move in steps of 250 ms, the same
//! grain as the TTLs, so exact phase boundaries are hit often; odd steps
//! test everything in between. On failure proptest shrinks the sequence and
//! the panic message prints the minimal failing one.
//!
//! The case count is 48 by default and `PROPTEST_CASES` sets it; each case
//! runs up to 48 operations.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use cachestore_core::raw::{Phase, RowTimes, from_unix_millis, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Condition, Entry, Error, Headers, ManualClock, SetItem,
    SetOptions, Tags, TouchOptions, Ttl, WriteOutcome,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use crate::StoreFactory;

/// The identities the model draws from.
pub const IDENTITIES: [(&str, &str); 9] = [
    ("a", "b:c"),
    ("a:b", "c"),
    ("a", "k"),
    ("ab", "k"),
    ("a\0", "k"),
    ("\0", "\0"),
    ("é", "z"),
    ("a", "\u{FFFF}"),
    ("a", "\u{10000}"),
];

/// The namespaces `clear_namespace` and `scan` draw from: those of
/// [`IDENTITIES`] plus one that never has rows.
pub const NAMESPACES: [&str; 7] = ["a", "a:b", "ab", "a\0", "\0", "é", "none"];

/// Default number of cases when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 48;

/// The longest operation sequence a case runs.
pub const MAX_OPS: usize = 48;

/// A TTL as the model draws it.
#[derive(Clone, Copy, Debug)]
pub enum TtlSpec {
    /// `Ttl::Never`.
    Never,
    /// `Ttl::For` this many ms.
    For(u64),
    /// `Ttl::Until` now plus this many ms (negative: in the past).
    Until(i64),
}

/// The payload a `Set` writes.
#[derive(Clone, Copy, Debug)]
pub enum PayloadSpec {
    /// Zero bytes.
    Empty,
    /// A short payload unique to the step.
    Small,
    /// 256 KiB unique to the step.
    Large,
}

/// The headers a `Set` writes.
#[derive(Clone, Copy, Debug)]
pub enum HeaderSpec {
    /// No headers.
    None,
    /// One header unique to the step.
    One,
    /// Empty names and values, unicode and control characters.
    Odd,
    /// 200 entries.
    Many,
}

/// One write as the model draws it.
#[derive(Clone, Copy, Debug)]
pub struct Write {
    /// Index into [`IDENTITIES`].
    pub id: usize,
    /// The payload.
    pub payload: PayloadSpec,
    /// The TTL.
    pub ttl: TtlSpec,
    /// The stale window, ms.
    pub stale_ms: u64,
    /// The headers.
    pub headers: HeaderSpec,
    /// The tags: bit `i` set carries [`TAGS`]`[i]` (written only on a
    /// store with [`Capabilities::tags`](cachestore_core::Capabilities::tags)).
    pub tags: u8,
}

/// The tags the model writes and invalidates: one a prefix of another, and
/// one that never meets a row's other tag by accident.
pub const TAGS: [&str; 3] = ["a", "ab", "album:x"];

fn tags_of(mask: u8) -> Tags {
    TAGS.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| (*t).to_owned())
        .collect()
}

/// The condition of a `SetIf`, as the model draws it.
#[derive(Clone, Copy, Debug)]
pub enum CondSpec {
    /// `IfAbsent`.
    Absent,
    /// `IfVersion` of the row's current version (read first when the model
    /// has not seen it since the last write).
    Current,
    /// `IfVersion` of a version no row has.
    Wrong,
}

/// One step of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// `set`.
    Set(Write),
    /// `set_if` (contract v2).
    SetIf(Write, CondSpec),
    /// `touch` of an identity with a TTL, a stale window (ms) and, when
    /// `true`, new headers (contract v2).
    Touch(usize, TtlSpec, u64, bool),
    /// `set_many`.
    SetMany(Vec<Write>),
    /// `get`.
    Get(usize),
    /// `get_stale`.
    GetStale(usize),
    /// `get_many`.
    GetMany(Vec<usize>),
    /// `delete`.
    Delete(usize),
    /// `purge_expired`.
    Purge,
    /// `clear_namespace` of [`NAMESPACES`]`[i]`.
    ClearNamespace(usize),
    /// `clear_all`.
    ClearAll,
    /// A full scan, optionally of one namespace, in pages of this size.
    Scan(Option<usize>, usize),
    /// Move the clock forwards, ms.
    Advance(u64),
    /// Move the clock backwards, ms.
    Rewind(u64),
    /// `invalidate_tag` of [`TAGS`]`[i]`.
    InvalidateTag(usize),
    /// Close and reopen the store (persistent stores only).
    Reopen,
}

fn time_step() -> impl Strategy<Value = u64> {
    prop_oneof![4 => (0..=8u64).prop_map(|n| n * 250), 1 => 0..2_000u64]
}

fn ttl_spec() -> impl Strategy<Value = TtlSpec> {
    prop_oneof![
        1 => Just(TtlSpec::Never),
        4 => time_step().prop_map(TtlSpec::For),
        1 => (-4..=8i64).prop_map(|n| TtlSpec::Until(n * 250)),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    let ttl = ttl_spec();
    let payload = prop_oneof![
        1 => Just(PayloadSpec::Empty),
        8 => Just(PayloadSpec::Small),
        1 => Just(PayloadSpec::Large),
    ];
    let headers = prop_oneof![
        3 => Just(HeaderSpec::None),
        4 => Just(HeaderSpec::One),
        1 => Just(HeaderSpec::Odd),
        1 => Just(HeaderSpec::Many),
    ];
    let stale = prop_oneof![1 => Just(0u64), 2 => time_step()];
    let tags = prop_oneof![2 => Just(0u8), 3 => 0..8u8];
    (0..IDENTITIES.len(), payload, ttl, stale, headers, tags).prop_map(
        |(id, payload, ttl, stale_ms, headers, tags)| Write {
            id,
            payload,
            ttl,
            stale_ms,
            headers,
            tags,
        },
    )
}

fn op(persistent: bool) -> BoxedStrategy<Op> {
    let id = 0..IDENTITIES.len();
    let common = prop_oneof![
        8 => write().prop_map(Op::Set),
        3 => (write(), prop_oneof![Just(CondSpec::Absent), Just(CondSpec::Current), Just(CondSpec::Wrong)])
            .prop_map(|(w, c)| Op::SetIf(w, c)),
        2 => (id.clone(), ttl_spec(), prop_oneof![1 => Just(0u64), 2 => time_step()], any::<bool>())
            .prop_map(|(i, t, s, h)| Op::Touch(i, t, s, h)),
        1 => proptest::collection::vec(write(), 0..5).prop_map(Op::SetMany),
        4 => id.clone().prop_map(Op::Get),
        3 => id.clone().prop_map(Op::GetStale),
        1 => proptest::collection::vec(id.clone(), 0..5).prop_map(Op::GetMany),
        2 => id.prop_map(Op::Delete),
        2 => Just(Op::Purge),
        1 => (0..NAMESPACES.len()).prop_map(Op::ClearNamespace),
        1 => Just(Op::ClearAll),
        2 => (0..TAGS.len()).prop_map(Op::InvalidateTag),
        1 => (proptest::option::of(0..NAMESPACES.len()), 1..5usize)
            .prop_map(|(ns, page)| Op::Scan(ns, page)),
        5 => time_step().prop_map(Op::Advance),
        2 => time_step().prop_map(Op::Rewind),
    ];
    if persistent {
        prop_oneof![31 => common, 1 => Just(Op::Reopen)].boxed()
    } else {
        common.boxed()
    }
}

/// The strategy for whole sequences.
pub fn sequences(persistent: bool) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(persistent), 1..=MAX_OPS)
}

/// A row of the reference model.
#[derive(Clone, Debug)]
struct Row {
    payload: Bytes,
    headers: Headers,
    tags: Tags,
    times: RowTimes,
    /// On a self-expiring engine: the row has been dead at some step, so the
    /// engine may have dropped it (CONTRACT.md §2).
    maybe_gone: bool,
    /// Its version, once read since its last write.
    version: Option<u64>,
    /// The highest version seen anywhere when it was written: its version
    /// must be greater (CONTRACT.md §7).
    floor: u64,
}

/// The reference model: a plain ordered map, simple enough to be obviously
/// right. `(String, String)` orders by namespace bytes, then key bytes.
#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<(String, String), Row>,
    /// The store keeps versions ([`Capabilities::conditional_writes`](cachestore_core::Capabilities)).
    versioned: bool,
    /// The highest version the store has shown.
    max_seen: u64,
    /// `stats().evicted` at the last step (bounded run).
    evicted: u64,
}

/// A count the store may report: exact, or a range where a self-expiring
/// engine may have dropped dead rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range(u64, u64);

impl Range {
    fn contains(self, n: u64) -> bool {
        self.0 <= n && n <= self.1
    }
}

impl Model {
    fn phase(row: &Row, now: i64) -> Phase {
        row.times.phase(now)
    }

    fn entry(row: &Row) -> Entry {
        Entry::from_parts(row.payload.clone(), row.headers.clone(), row.times)
            .unwrap_or_else(|| panic!("model time out of range: {:?}", row.times))
            .with_tags(row.tags.clone())
    }

    /// The answers a read may give: exactly one, or `None` too where the row
    /// may be gone.
    fn read(&self, id: usize, now: i64, stale: bool) -> (Option<Entry>, bool) {
        let (ns, key) = IDENTITIES[id];
        match self.rows.get(&(ns.to_owned(), key.to_owned())) {
            Some(row) => {
                let visible = match Self::phase(row, now) {
                    Phase::Fresh => true,
                    Phase::Stale => stale,
                    Phase::Dead => false,
                };
                (visible.then(|| Self::entry(row)), row.maybe_gone)
            }
            None => (None, false),
        }
    }

    /// Removes the rows `select` picks; returns the range of live rows removed.
    fn remove(&mut self, now: i64, select: impl Fn(&str, &Row) -> bool) -> Range {
        let (mut sure, mut maybe) = (0, 0);
        self.rows.retain(|(ns, _), row| {
            if !select(ns, row) {
                return true;
            }
            if Self::phase(row, now).is_live() {
                if row.maybe_gone { maybe += 1 } else { sure += 1 }
            }
            false
        });
        Range(sure, sure + maybe)
    }

    /// Checks the version of a row the store returned and remembers it:
    /// the one seen since its last write, or one greater than every version
    /// seen before that write; 0 on a store without versions.
    fn observe(&mut self, ns: &str, key: &str, got: &Entry) -> Result<(), String> {
        if !self.versioned {
            return if got.version == 0 {
                Ok(())
            } else {
                Err(format!("a store without versions returned version {}", got.version))
            };
        }
        let Some(row) = self.rows.get_mut(&(ns.to_owned(), key.to_owned())) else {
            return Ok(());
        };
        match row.version {
            Some(v) if v != got.version => {
                return Err(format!(
                    "({ns:?}, {key:?}) has version {} now, {v} when last read, with no write between",
                    got.version
                ));
            }
            Some(_) => {}
            None if got.version <= row.floor => {
                return Err(format!(
                    "({ns:?}, {key:?}) was written with version {}, not above the {} seen before the write",
                    got.version, row.floor
                ));
            }
            None => row.version = Some(got.version),
        }
        self.max_seen = self.max_seen.max(got.version);
        Ok(())
    }

    /// Checks the version a write answered with (it must be above every
    /// version seen so far) and records it.
    fn written(&mut self, ns: &str, key: &str, version: u64) -> Result<(), String> {
        if version <= self.max_seen {
            return Err(format!(
                "({ns:?}, {key:?}) was written with version {version}, not above the {} seen before",
                self.max_seen
            ));
        }
        self.max_seen = version;
        if let Some(row) = self.rows.get_mut(&(ns.to_owned(), key.to_owned())) {
            row.version = Some(version);
        }
        Ok(())
    }

    /// The bytes of every row, by `row_bytes`.
    fn bytes(&self) -> u64 {
        self.rows.iter().map(|((n, k), r)| bytes_of(n, k, r)).sum()
    }

    fn mark_dead_rows(&mut self, now: i64) {
        for row in self.rows.values_mut() {
            if Self::phase(row, now) == Phase::Dead {
                row.maybe_gone = true;
            }
        }
    }
}

/// Runs the model test against `factory` and panics with the minimal failing
/// sequence if the store and the model ever disagree.
pub fn run<F: StoreFactory>(factory: &F) {
    if let Err(message) = check(factory) {
        panic!("{message}");
    }
}

/// Runs the model test; `Err` holds the reason and the minimal failing sequence.
pub fn check<F: StoreFactory>(factory: &F) -> Result<(), String> {
    check_with(factory, env_cases(), None)
}

/// The size bound of [`run_bounded`]: about three "large" rows of its
/// sequences, or thirty small ones, so that most sequences evict.
pub const MODEL_BOUND: u64 = 6 * 1024;

/// Runs the model test on a store with the size bound [`MODEL_BOUND`]
/// (from [`StoreFactory::open_bounded`]; a loud `SKIPPED:` line when the
/// factory has none) and panics with the minimal failing sequence if the
/// store breaks CONTRACT.md §11: after every step the store is compared
/// with the model, where a row may have gone only if the write before
/// passed the bound, only in the eviction order (dead, then stale by
/// `stale_until`, then fresh by `stored_at`), leaving at most the bound,
/// with `stats` counting the bytes and the evictions. Sequences never
/// reopen (a reopen would open without the bound).
pub fn run_bounded<F: StoreFactory>(factory: &F) {
    if let Err(message) = check_bounded_with(factory, env_cases(), None) {
        panic!("{message}");
    }
}

/// [`run_bounded`] with `cases` sequences and an optional fixed RNG seed;
/// `Ok` also when the factory has no bounded store (after a `SKIPPED:` line).
pub fn check_bounded_with<F: StoreFactory>(
    factory: &F,
    cases: u32,
    seed: Option<u64>,
) -> Result<(), String> {
    let runtime = runtime()?;
    let opened = runtime
        .block_on(async { factory.open_bounded(ManualClock::new(), MODEL_BOUND).await })
        .map_err(|e| format!("StoreFactory::open_bounded failed: {e}"))?;
    let Some(store) = opened else {
        println!("SKIPPED: model_matches_reference_under_a_size_bound: no bounded store");
        eprintln!("SKIPPED: model_matches_reference_under_a_size_bound: no bounded store");
        return Ok(());
    };
    let caps = store.capabilities();
    drop(store);
    if caps.max_bytes != Some(MODEL_BOUND) || caps.self_expiring {
        return Err(format!(
            "open_bounded gave a store with max_bytes {:?} (self-expiring: {}); the bounded \
             model needs {MODEL_BOUND} on a store that does not expire rows by itself",
            caps.max_bytes, caps.self_expiring
        ));
    }
    let run = Run { persistent: false, self_expiring: false, bound: Some(MODEL_BOUND) };
    run.check(factory, &runtime, cases, seed, "the bounded store")
}

/// Runs the model test with `cases` random sequences, from a fixed RNG seed
/// when one is given (else proptest's own: random, or `PROPTEST_RNG_SEED`).
pub fn check_with<F: StoreFactory>(
    factory: &F,
    cases: u32,
    seed: Option<u64>,
) -> Result<(), String> {
    let runtime = runtime()?;
    let caps = runtime
        .block_on(async { factory.open(ManualClock::new()).await.map(|s| s.capabilities()) })
        .map_err(|e| format!("StoreFactory::open failed: {e}"))?;
    if caps.evicts_live_rows {
        return Err("the model test needs a store that does not evict live rows; \
                    run it on an unbounded configuration"
            .into());
    }
    let run = Run { persistent: caps.persistent, self_expiring: caps.self_expiring, bound: None };
    run.check(factory, &runtime, cases, seed, "the store")
}

/// The case count: `PROPTEST_CASES`, else [`DEFAULT_CASES`].
fn env_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// The single-threaded runtime every model run drives its store on.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))
}

/// What one model run generates and checks: reopens only on a persistent
/// store, rows that may vanish once dead on a self-expiring one, and the
/// size bound, if any.
struct Run {
    persistent: bool,
    self_expiring: bool,
    bound: Option<u64>,
}

impl Run {
    /// Runs `cases` sequences (from `seed` when given); a failure names
    /// `subject` and gives the minimal failing sequence.
    fn check<F: StoreFactory>(
        &self,
        factory: &F,
        runtime: &tokio::runtime::Runtime,
        cases: u32,
        seed: Option<u64>,
        subject: &str,
    ) -> Result<(), String> {
        let mut config = Config { cases, failure_persistence: None, ..Config::default() };
        if let Some(seed) = seed {
            config.rng_seed = RngSeed::Fixed(seed);
        }
        let mut runner = TestRunner::new(config);
        let result = runner.run(&sequences(self.persistent), |ops| {
            runtime.block_on(execute(factory, &ops, self.self_expiring, self.bound))
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, ops)) => Err(format!(
                "{subject} disagrees with the reference model: {reason}\n\
                 minimal failing sequence ({} steps):\n{}",
                ops.len(),
                Steps(&ops)
            )),
            Err(TestError::Abort(reason)) => Err(format!("model test aborted: {reason}")),
        }
    }
}

struct Steps<'a>(&'a [Op]);

impl fmt::Display for Steps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, op) in self.0.iter().enumerate() {
            writeln!(f, "  {i:>2}: {}", Described(op))?;
        }
        Ok(())
    }
}

struct Described<'a>(&'a Op);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |i: usize| format!("{:?}", IDENTITIES[i]);
        let w = |w: &Write| {
            format!(
                "{} {:?} ttl={:?} stale_for={}ms headers={:?} tags={:?}",
                id(w.id),
                w.payload,
                w.ttl,
                w.stale_ms,
                w.headers,
                tags_of(w.tags)
            )
        };
        match self.0 {
            Op::Set(x) => write!(f, "set {}", w(x)),
            Op::SetIf(x, c) => write!(f, "set_if {c:?} {}", w(x)),
            Op::Touch(i, ttl, stale, h) => {
                write!(f, "touch {} ttl={ttl:?} stale_for={stale}ms new_headers={h}", id(*i))
            }
            Op::SetMany(xs) => {
                write!(f, "set_many [{}]", xs.iter().map(w).collect::<Vec<_>>().join("; "))
            }
            Op::Get(i) => write!(f, "get {}", id(*i)),
            Op::GetStale(i) => write!(f, "get_stale {}", id(*i)),
            Op::GetMany(is) => {
                write!(f, "get_many [{}]", is.iter().map(|i| id(*i)).collect::<Vec<_>>().join(", "))
            }
            Op::Delete(i) => write!(f, "delete {}", id(*i)),
            Op::Purge => write!(f, "purge_expired"),
            Op::ClearNamespace(n) => write!(f, "clear_namespace {:?}", NAMESPACES[*n]),
            Op::ClearAll => write!(f, "clear_all"),
            Op::Scan(ns, page) => {
                write!(f, "scan {:?} page={page}", ns.map(|n| NAMESPACES[n]))
            }
            Op::Advance(n) => write!(f, "advance {n}ms"),
            Op::Rewind(n) => write!(f, "rewind {n}ms"),
            Op::InvalidateTag(t) => write!(f, "invalidate_tag {:?}", TAGS[*t]),
            Op::Reopen => write!(f, "reopen"),
        }
    }
}

fn fail(step: usize, message: String) -> TestCaseError {
    TestCaseError::fail(format!("step {step}: {message}"))
}

macro_rules! store_ok {
    ($step:expr, $what:expr, $e:expr) => {
        $e.map_err(|e| fail($step, format!("{} failed: {e} ({e:?})", $what)))?
    };
}

fn build_write(
    step: usize,
    w: &Write,
    clock: &ManualClock,
    caps: &Capabilities,
) -> (Bytes, SetOptions) {
    let tags = caps.tags;
    // Under the bounded run's bound, a "large" row is a third of it.
    let large = if caps.max_bytes.is_some() { 2 * 1024 } else { 256 * 1024 };
    let payload = match w.payload {
        PayloadSpec::Empty => Bytes::new(),
        PayloadSpec::Small => Bytes::from(format!("payload of step {step}")),
        PayloadSpec::Large => {
            let mut v = vec![(step % 251) as u8; large];
            v[..8].copy_from_slice(&(step as u64).to_le_bytes());
            Bytes::from(v)
        }
    };
    let ttl = match w.ttl {
        TtlSpec::Never => Ttl::Never,
        TtlSpec::For(ms) => Ttl::For(Duration::from_millis(ms)),
        TtlSpec::Until(offset) => {
            let now = clock.now();
            let magnitude = Duration::from_millis(offset.unsigned_abs());
            Ttl::Until(if offset >= 0 { now + magnitude } else { now - magnitude })
        }
    };
    let headers: Headers = match w.headers {
        HeaderSpec::None => Headers::new(),
        HeaderSpec::One => [("step".to_owned(), step.to_string())].into(),
        HeaderSpec::Odd => [
            (String::new(), String::new()),
            ("ключ".to_owned(), "🦀\0\n".to_owned()),
            ("step".to_owned(), step.to_string()),
        ]
        .into(),
        HeaderSpec::Many => (0..200).map(|i| (format!("h{i:03}"), format!("{step}.{i}"))).collect(),
    };
    let mut options =
        SetOptions::new().ttl(ttl).stale_for(Duration::from_millis(w.stale_ms)).headers(headers);
    if tags {
        options = options.tags(tags_of(w.tags));
    }
    (payload, options)
}

fn model_write(
    model: &mut Model,
    w: &Write,
    payload: Bytes,
    options: &SetOptions,
    now: std::time::SystemTime,
) {
    let (ns, key) = IDENTITIES[w.id];
    let times = RowTimes::resolve(now, options.ttl, options.stale_for)
        .unwrap_or_else(|e| panic!("model TTL out of range: {e}"));
    model.rows.insert(
        (ns.to_owned(), key.to_owned()),
        Row {
            payload,
            headers: options.headers.clone(),
            tags: options.tags.clone(),
            times,
            maybe_gone: false,
            version: None,
            floor: model.max_seen,
        },
    );
}

/// The entry without its version (compared on its own, by [`Model::observe`]).
fn content(e: Option<Entry>) -> Option<Entry> {
    e.map(|e| Entry { version: 0, ..e })
}

fn check_read(
    step: usize,
    what: &str,
    got: Option<Entry>,
    want: (Option<Entry>, bool),
) -> Result<(), TestCaseError> {
    let (want, may_be_gone) = want;
    let got = content(got);
    if got == want || (may_be_gone && got.is_none()) {
        return Ok(());
    }
    Err(fail(
        step,
        format!("{what}: the store returned {}, the model {}", brief(&got), brief(&want)),
    ))
}

fn brief(e: &Option<Entry>) -> String {
    match e {
        None => "None".into(),
        Some(e) => format!(
            "Some(payload {} bytes {:?}…, {} headers, stored_at {:?}, expires_at {:?}, stale_until {:?})",
            e.payload.len(),
            String::from_utf8_lossy(&e.payload[..e.payload.len().min(24)]),
            e.headers.len(),
            to_unix_millis(e.stored_at).ok(),
            e.expires_at.and_then(|t| to_unix_millis(t).ok()),
            e.stale_until.and_then(|t| to_unix_millis(t).ok()),
        ),
    }
}

async fn execute<F: StoreFactory>(
    factory: &F,
    ops: &[Op],
    self_expiring: bool,
    bound: Option<u64>,
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let opened = match bound {
        None => factory.open(clock.clone()).await,
        Some(max) => match factory.open_bounded(clock.clone(), max).await {
            Ok(Some(store)) => Ok(store),
            Ok(None) => return Err(fail(0, "open_bounded stopped giving a store".into())),
            Err(e) => Err(e),
        },
    };
    let mut store = Some(store_ok!(0, "open", opened));
    let mut model = Model::default();
    let caps = store.as_ref().map(|s| s.capabilities()).unwrap_or_default();
    model.versioned = caps.conditional_writes;
    let observe = |model: &mut Model, step: usize, id: usize, got: &Option<Entry>| {
        let (ns, key) = IDENTITIES[id];
        match got {
            Some(e) => model.observe(ns, key, e).map_err(|m| fail(step, m)),
            None => Ok(()),
        }
    };
    for (step, op) in ops.iter().enumerate() {
        let mut batch = Batch::default();
        let s = store.as_ref().ok_or_else(|| fail(step, "no store".into()))?;
        let now = clock.now();
        let now_ms = to_unix_millis(now).map_err(|e| fail(step, format!("clock: {e}")))?;
        match op {
            Op::Set(w) => {
                let (payload, options) = build_write(step, w, &clock, &caps);
                let (ns, key) = IDENTITIES[w.id];
                store_ok!(step, "set", s.set(ns, key, payload.clone(), options.clone()).await);
                model_write(&mut model, w, payload, &options, now);
            }
            Op::SetMany(ws) => {
                let mut items = Vec::new();
                for w in ws {
                    let (payload, options) = build_write(step, w, &clock, &caps);
                    let (ns, key) = IDENTITIES[w.id];
                    model_write(&mut model, w, payload.clone(), &options, now);
                    if !caps.atomic_batch {
                        // Each item is a write of its own: it may evict
                        // (even a row a later item writes again) at any point.
                        batch.peak = batch.peak.max(model.bytes());
                        batch.ids.insert((ns.to_owned(), key.to_owned()));
                    }
                    items.push(SetItem::new(ns, key, payload, options));
                }
                store_ok!(step, "set_many", s.set_many(items).await);
            }
            Op::Get(i) => {
                let got = store_ok!(step, "get", s.get(IDENTITIES[*i].0, IDENTITIES[*i].1).await);
                observe(&mut model, step, *i, &got)?;
                check_read(
                    step,
                    &format!("get {:?}", IDENTITIES[*i]),
                    got,
                    model.read(*i, now_ms, false),
                )?;
            }
            Op::GetStale(i) => {
                let got = store_ok!(
                    step,
                    "get_stale",
                    s.get_stale(IDENTITIES[*i].0, IDENTITIES[*i].1).await
                );
                observe(&mut model, step, *i, &got)?;
                check_read(
                    step,
                    &format!("get_stale {:?}", IDENTITIES[*i]),
                    got,
                    model.read(*i, now_ms, true),
                )?;
            }
            Op::GetMany(is) => {
                let ids: Vec<(&str, &str)> = is.iter().map(|i| IDENTITIES[*i]).collect();
                let got = store_ok!(step, "get_many", s.get_many(&ids).await);
                if got.len() != is.len() {
                    return Err(fail(
                        step,
                        format!("get_many returned {} results for {} ids", got.len(), is.len()),
                    ));
                }
                for (i, got) in is.iter().zip(got) {
                    observe(&mut model, step, *i, &got)?;
                    check_read(
                        step,
                        &format!("get_many item {:?}", IDENTITIES[*i]),
                        got,
                        model.read(*i, now_ms, false),
                    )?;
                }
            }
            Op::Delete(i) => {
                let (ns, key) = IDENTITIES[*i];
                let got = store_ok!(step, "delete", s.delete(ns, key).await);
                let row = model.rows.remove(&(ns.to_owned(), key.to_owned()));
                let (live, maybe) = match &row {
                    Some(r) => (Model::phase(r, now_ms).is_live(), r.maybe_gone),
                    None => (false, false),
                };
                // A row that may be gone may also answer `false`.
                let acceptable = got == live || (maybe && !got);
                if !acceptable {
                    return Err(fail(
                        step,
                        format!("delete {:?} returned {got}, the model {live}", IDENTITIES[*i]),
                    ));
                }
            }
            Op::Purge => {
                let got = store_ok!(step, "purge_expired", s.purge_expired().await);
                let (mut sure, mut dead) = (0, 0);
                model.rows.retain(|_, row| {
                    let keep = Model::phase(row, now_ms).is_live();
                    dead += u64::from(!keep);
                    sure += u64::from(!keep && !row.maybe_gone);
                    keep
                });
                let want = if self_expiring { Range(0, dead) } else { Range(sure, dead) };
                if !want.contains(got) {
                    return Err(fail(
                        step,
                        format!("purge_expired returned {got}, the model {want:?}"),
                    ));
                }
            }
            Op::ClearNamespace(n) => {
                let ns = NAMESPACES[*n];
                let got = store_ok!(step, "clear_namespace", s.clear_namespace(ns).await);
                let want = model.remove(now_ms, |x, _| x == ns);
                if !want.contains(got) {
                    return Err(fail(
                        step,
                        format!("clear_namespace {ns:?} returned {got}, the model {want:?}"),
                    ));
                }
            }
            Op::ClearAll => {
                let got = store_ok!(step, "clear_all", s.clear_all().await);
                let want = model.remove(now_ms, |_, _| true);
                if !want.contains(got) {
                    return Err(fail(
                        step,
                        format!("clear_all returned {got}, the model {want:?}"),
                    ));
                }
            }
            Op::Scan(ns, page) => {
                let ns = ns.map(|n| NAMESPACES[n]);
                let seen = check_scan(step, s, &model, ns, *page, now_ms).await?;
                for ((n, k), e) in seen {
                    model.observe(&n, &k, &e).map_err(|m| fail(step, m))?;
                }
            }
            Op::SetIf(w, spec) => {
                let (payload, options) = build_write(step, w, &clock, &caps);
                let (ns, key) = IDENTITIES[w.id];
                let id = (ns.to_owned(), key.to_owned());
                let row = model.rows.get(&id);
                let live = row.is_some_and(|r| Model::phase(r, now_ms).is_live());
                let unsure = row.is_some_and(|r| r.maybe_gone);
                if caps.conditional_writes
                    && live
                    && matches!(spec, CondSpec::Current)
                    && row.is_some_and(|r| r.version.is_none())
                {
                    let got = store_ok!(step, "get_stale", s.get_stale(ns, key).await);
                    observe(&mut model, step, w.id, &got)?;
                }
                let current = model.rows.get(&id).and_then(|r| r.version).filter(|_| live);
                let condition = match spec {
                    CondSpec::Absent => Condition::IfAbsent,
                    CondSpec::Current => Condition::IfVersion(current.unwrap_or(0)),
                    CondSpec::Wrong => Condition::IfVersion(u64::MAX - 7),
                };
                let result = s.set_if(ns, key, payload.clone(), options.clone(), condition).await;
                if !caps.conditional_writes {
                    if !matches!(result, Err(Error::Unsupported { .. })) {
                        return Err(fail(
                            step,
                            format!("set_if without the capability: {result:?}"),
                        ));
                    }
                    continue;
                }
                let outcome = store_ok!(step, "set_if", result);
                let should = match spec {
                    CondSpec::Absent => !live,
                    CondSpec::Current => live,
                    CondSpec::Wrong => false,
                };
                match outcome {
                    WriteOutcome::Written { version } if should || unsure => {
                        model_write(&mut model, w, payload, &options, now);
                        model.written(ns, key, version).map_err(|m| fail(step, m))?;
                    }
                    WriteOutcome::NotWritten { current: got } if !should || unsure => {
                        let want = if live { current } else { None };
                        let fine = match (got, want) {
                            (g, w) if g == w => true,
                            // A live row the model has not read since its write.
                            (Some(g), None) if live => {
                                model.rows.get(&id).is_some_and(|r| g > r.floor)
                            }
                            (None, Some(_)) => unsure,
                            _ => false,
                        };
                        if !fine {
                            return Err(fail(
                                step,
                                format!(
                                    "set_if {condition:?} on ({ns:?}, {key:?}) was refused naming version {got:?}, the model {want:?}"
                                ),
                            ));
                        }
                    }
                    other => {
                        return Err(fail(
                            step,
                            format!(
                                "set_if {condition:?} on ({ns:?}, {key:?}) (live: {live}) answered {other:?}"
                            ),
                        ));
                    }
                }
            }
            Op::Touch(i, ttl, stale_ms, new_headers) => {
                let (ns, key) = IDENTITIES[*i];
                let w = Write {
                    id: *i,
                    payload: PayloadSpec::Empty,
                    ttl: *ttl,
                    stale_ms: *stale_ms,
                    headers: if *new_headers { HeaderSpec::One } else { HeaderSpec::None },
                    tags: 0,
                };
                let (_, set) = build_write(step, &w, &clock, &Capabilities::new());
                let mut options = TouchOptions::new(set.ttl).stale_for(set.stale_for);
                if *new_headers {
                    options = options.headers(set.headers.clone());
                }
                let result = s.touch(ns, key, options).await;
                if !caps.touch {
                    if !matches!(result, Err(Error::Unsupported { .. })) {
                        return Err(fail(
                            step,
                            format!("touch without the capability: {result:?}"),
                        ));
                    }
                    continue;
                }
                let got = store_ok!(step, "touch", result);
                let id = (ns.to_owned(), key.to_owned());
                let row = model.rows.get(&id);
                let live = row.is_some_and(|r| Model::phase(r, now_ms).is_live());
                let unsure = row.is_some_and(|r| r.maybe_gone);
                match (got, live) {
                    (Some(version), true) => {
                        let times = RowTimes::resolve(now, set.ttl, set.stale_for)
                            .map_err(|e| fail(step, format!("model TTL: {e}")))?;
                        let floor = model.max_seen;
                        if let Some(row) = model.rows.get_mut(&id) {
                            row.times = times;
                            if *new_headers {
                                row.headers = set.headers.clone();
                            }
                            row.floor = floor;
                        }
                        if model.versioned {
                            model.written(ns, key, version).map_err(|m| fail(step, m))?;
                        }
                    }
                    (None, false) => {}
                    (None, true) if unsure => {
                        model.rows.remove(&id);
                    }
                    (got, live) => {
                        return Err(fail(
                            step,
                            format!(
                                "touch ({ns:?}, {key:?}) answered {got:?}; the model's row is live: {live}"
                            ),
                        ));
                    }
                }
            }
            Op::InvalidateTag(t) => {
                let tag = TAGS[*t];
                let result = s.invalidate_tag(tag).await;
                if !caps.tags {
                    if !matches!(result, Err(Error::Unsupported { .. })) {
                        return Err(fail(
                            step,
                            format!("invalidate_tag without the capability: {result:?}"),
                        ));
                    }
                    continue;
                }
                let got = store_ok!(step, "invalidate_tag", result);
                let want = model.remove(now_ms, |_, row| row.tags.contains(tag));
                if !want.contains(got) {
                    return Err(fail(
                        step,
                        format!("invalidate_tag {tag:?} returned {got}, the model {want:?}"),
                    ));
                }
            }
            Op::Advance(n) => clock.advance(Duration::from_millis(*n)),
            Op::Rewind(n) => clock.rewind(Duration::from_millis(*n)),
            Op::Reopen => {
                let old = store.take().ok_or_else(|| fail(step, "no store".into()))?;
                store = Some(store_ok!(step, "reopen", factory.reopen(old, clock.clone()).await));
            }
        }
        let s = store.as_ref().ok_or_else(|| fail(step, "no store".into()))?;
        let now_ms = to_unix_millis(clock.now()).map_err(|e| fail(step, format!("clock: {e}")))?;
        if self_expiring {
            model.mark_dead_rows(now_ms);
        }
        if let Some(max) = bound {
            check_bound(step, s, &mut model, now_ms, max, &batch).await?;
        }
        check_stats(step, s, &model, now_ms).await?;
    }
    Ok(())
}

/// The bytes a model row counts for against a bound.
fn bytes_of(ns: &str, key: &str, row: &Row) -> u64 {
    cachestore_core::row_bytes(ns, key, &row.headers, &row.tags, row.payload.len())
}

/// Where a row stands in the eviction order at `now` (CONTRACT.md §11):
/// expired rows (dead, then stale) by `stale_until`, then fresh ones by
/// `stored_at`. Lower goes first; ties may go in any order.
fn eviction_rank(row: &Row, now: i64) -> (u8, i64) {
    match Model::phase(row, now) {
        Phase::Fresh => (1, row.times.stored_at),
        _ => (0, row.times.stale_until.unwrap_or(i64::MAX)),
    }
}

/// A `set_many` of a store without atomic batches, as the bounded run
/// sees it: a write per item, so the most the rows held after any of them,
/// and the rows it wrote (which an item before may have evicted, and a
/// later one written again).
#[derive(Default)]
struct Batch {
    peak: u64,
    ids: std::collections::BTreeSet<(String, String)>,
}

/// After a step of the bounded run: finds the rows the store no longer has,
/// checks they went only when the rows had passed the bound, in the
/// eviction order, leaving at most `max` bytes, with `stats` counting the
/// bytes and the evictions; then drops them from the model.
async fn check_bound<S: CacheStore>(
    step: usize,
    store: &S,
    model: &mut Model,
    now: i64,
    max: u64,
    batch: &Batch,
) -> Result<(), TestCaseError> {
    let mut present = std::collections::BTreeSet::new();
    let mut cursor = None;
    for _ in 0..=IDENTITIES.len() + 1 {
        let p = store_ok!(step, "scan", store.scan(None, cursor.as_ref(), 4).await);
        present.extend(p.items.into_iter().map(|i| (i.namespace, i.key)));
        match p.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let stats = store_ok!(step, "stats", store.stats().await);
    let upper = model.bytes().max(batch.peak);
    let mut evicted = Vec::new();
    let mut vanished_unsure = Vec::new();
    for (id, row) in &model.rows {
        if Model::phase(row, now).is_live() && !present.contains(id) {
            if row.maybe_gone { vanished_unsure.push(id.clone()) } else { evicted.push(id.clone()) }
        }
    }
    let dead_model: Vec<(String, String)> = model
        .rows
        .iter()
        .filter(|(_, r)| Model::phase(r, now) == Phase::Dead)
        .map(|(id, _)| id.clone())
        .collect();
    let dead_sure =
        dead_model.iter().filter(|id| model.rows.get(*id).is_some_and(|r| !r.maybe_gone)).count()
            as u64;
    let dead_now = stats.dead;
    if dead_now > dead_model.len() as u64 {
        return Err(fail(
            step,
            format!("stats.dead = {dead_now}, more than the {} the model has", dead_model.len()),
        ));
    }
    let dead_evicted = dead_sure.saturating_sub(dead_now);
    if (!evicted.is_empty() || dead_evicted > 0) && upper <= max {
        return Err(fail(
            step,
            format!(
                "rows {evicted:?} (and {dead_evicted} dead) went although the rows hold at most                  {upper} bytes, within the bound of {max}"
            ),
        ));
    }
    // Dead rows a later item of a non-atomic batch wrote may stay.
    let dead_written = dead_model.iter().filter(|id| batch.ids.contains(*id)).count() as u64;
    if !evicted.is_empty() && dead_now > dead_written {
        return Err(fail(
            step,
            format!("live rows {evicted:?} were evicted while {dead_now} dead rows are kept"),
        ));
    }
    let worst =
        evicted.iter().filter_map(|id| model.rows.get(id)).map(|r| eviction_rank(r, now)).max();
    let kept = model
        .rows
        .iter()
        .filter(|(id, r)| {
            Model::phase(r, now).is_live() && present.contains(*id) && !batch.ids.contains(*id)
        })
        .map(|(id, r)| (eviction_rank(r, now), id.clone()))
        .min();
    if let (Some(worst), Some((best, id))) = (worst, kept)
        && worst > best
    {
        return Err(fail(
            step,
            format!(
                "rows {evicted:?} were evicted while {id:?} comes before them in the eviction \
                 order (dead, stale by stale_until, fresh by stored_at) and is kept"
            ),
        ));
    }
    for id in evicted.iter().chain(&vanished_unsure) {
        model.rows.remove(id);
    }
    let mut dead_unsure = false;
    if dead_now == 0 {
        for id in &dead_model {
            model.rows.remove(id);
        }
    } else if dead_now < dead_model.len() as u64 {
        for id in &dead_model {
            if let Some(row) = model.rows.get_mut(id) {
                row.maybe_gone = true;
            }
        }
        dead_unsure = true;
    }
    for (id, row) in model.rows.iter_mut() {
        if present.contains(id) {
            row.maybe_gone = false;
        }
    }
    let live: u64 = model
        .rows
        .iter()
        .filter(|(_, r)| Model::phase(r, now).is_live())
        .map(|((n, k), r)| bytes_of(n, k, r))
        .sum();
    let all: u64 = model.rows.iter().map(|((n, k), r)| bytes_of(n, k, r)).sum();
    let lowest = if dead_unsure { live } else { all };
    let Some(stored) = stats.stored_bytes else {
        return Err(fail(step, "a store with a size bound reports no stats.stored_bytes".into()));
    };
    if stored > max || !(lowest..=all).contains(&stored) {
        return Err(fail(
            step,
            format!(
                "stats.stored_bytes = {stored}; the model's rows hold {lowest}..={all} bytes, \
                 the bound is {max}"
            ),
        ));
    }
    // The rows evicted at this step: exactly those seen gone, or, where the
    // model was unsure of some rows (dead ones that may have gone at an
    // earlier step) or a batch may have evicted rows it wrote again, a range.
    let gone = evicted.len() as u64 + dead_evicted;
    let unsure = (dead_model.len() as u64 - dead_sure) + vanished_unsure.len() as u64;
    let most = if batch.ids.is_empty() { gone + unsure } else { u64::MAX };
    let counted = stats.evicted.checked_sub(model.evicted);
    if !counted.is_some_and(|n| (gone..=most).contains(&n)) {
        return Err(fail(
            step,
            format!(
                "stats.evicted went from {} to {} while {gone} rows (at most {most}) were evicted",
                model.evicted, stats.evicted
            ),
        ));
    }
    model.evicted = stats.evicted;
    Ok(())
}

async fn check_scan<S: CacheStore>(
    step: usize,
    store: &S,
    model: &Model,
    ns: Option<&str>,
    page: usize,
    now: i64,
) -> Result<Vec<((String, String), Entry)>, TestCaseError> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..=IDENTITIES.len() + 1 {
        let p = store_ok!(step, "scan", store.scan(ns, cursor.as_ref(), page).await);
        if p.items.len() > page {
            return Err(fail(
                step,
                format!("scan returned {} rows for a limit of {page}", p.items.len()),
            ));
        }
        seen.extend(p.items.into_iter().map(|i| ((i.namespace, i.key), i.entry)));
        match p.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let got: Vec<_> =
        seen.iter().map(|(id, e)| (id.clone(), Entry { version: 0, ..e.clone() })).collect();
    let mut must = Vec::new();
    let mut may = Vec::new();
    for ((n, k), row) in &model.rows {
        if ns.is_some_and(|ns| ns != n) || !Model::phase(row, now).is_live() {
            continue;
        }
        let item = ((n.clone(), k.clone()), Model::entry(row));
        if !row.maybe_gone {
            must.push(item.clone());
        }
        may.push(item);
    }
    // `got` must be `may` with some of the maybe-gone rows left out.
    let mut it = may.iter();
    let in_order = got.iter().all(|g| it.any(|m| m == g));
    let has_must = must.iter().all(|m| got.contains(m));
    if !in_order || !has_must {
        let ids = |v: &[((String, String), Entry)]| {
            v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
        };
        return Err(fail(
            step,
            format!(
                "scan {ns:?} page={page}: the store returned {:?}, the model {:?}",
                ids(&got),
                ids(&may)
            ),
        ));
    }
    Ok(seen)
}

fn self_expiring<S: CacheStore>(store: &S) -> bool {
    store.capabilities().self_expiring
}

async fn check_stats<S: CacheStore>(
    step: usize,
    store: &S,
    model: &Model,
    now: i64,
) -> Result<(), TestCaseError> {
    let stats = store_ok!(step, "stats", store.stats().await);
    if !store.capabilities().exact_stats {
        return Ok(());
    }
    let (mut fresh, mut stale, mut bytes) = (Range(0, 0), Range(0, 0), Range(0, 0));
    for row in model.rows.values() {
        let target = match Model::phase(row, now) {
            Phase::Fresh => &mut fresh,
            Phase::Stale => &mut stale,
            Phase::Dead => continue,
        };
        let len = row.payload.len() as u64;
        target.1 += 1;
        bytes.1 += len;
        if !row.maybe_gone {
            target.0 += 1;
            bytes.0 += len;
        }
    }
    if !fresh.contains(stats.fresh)
        || !stale.contains(stats.stale)
        || !bytes.contains(stats.payload_bytes)
    {
        return Err(fail(
            step,
            format!(
                "stats (fresh, stale, bytes) = ({}, {}, {}), the model ({fresh:?}, {stale:?}, {bytes:?})",
                stats.fresh, stats.stale, stats.payload_bytes
            ),
        ));
    }
    // Dead rows not yet purged (CONTRACT.md §10); a self-expiring engine may
    // have dropped any of them.
    let dead: Vec<&Row> =
        model.rows.values().filter(|r| Model::phase(r, now) == Phase::Dead).collect();
    let sure = dead.iter().filter(|r| !r.maybe_gone).count() as u64;
    let dead = dead.len() as u64;
    let dead_range = if self_expiring(store) { Range(0, dead) } else { Range(sure, dead) };
    if !dead_range.contains(stats.dead) {
        return Err(fail(step, format!("stats.dead = {}, the model {dead_range:?}", stats.dead)));
    }
    // The span of the live rows' stored_at, where no live row may be gone.
    let live: Vec<&Row> = model.rows.values().filter(|r| Model::phase(r, now).is_live()).collect();
    if live.iter().all(|r| !r.maybe_gone) {
        let span = |pick: fn(i64, i64) -> i64| {
            live.iter().map(|r| r.times.stored_at).reduce(pick).and_then(from_unix_millis)
        };
        let want = (span(i64::min), span(i64::max));
        if (stats.oldest, stats.newest) != want {
            return Err(fail(
                step,
                format!(
                    "stats (oldest, newest) = {:?}, the model {want:?}",
                    (stats.oldest, stats.newest)
                ),
            ));
        }
    }
    let sum = stats
        .namespaces
        .values()
        .fold((0, 0, 0), |(f, s, b), n| (f + n.fresh, s + n.stale, b + n.payload_bytes));
    if sum != (stats.fresh, stats.stale, stats.payload_bytes)
        || stats.namespaces.values().map(|n| n.dead).sum::<u64>() != stats.dead
        || stats.namespaces.values().any(|n| n.fresh + n.stale + n.dead == 0)
    {
        return Err(fail(
            step,
            format!("per-namespace stats do not add up to the totals: {stats:?}"),
        ));
    }
    if fresh.0 == fresh.1 && stale.0 == stale.1 {
        let mut want: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        for ((ns, _), row) in &model.rows {
            let phase = Model::phase(row, now);
            if phase.is_live() {
                let e = want.entry(ns).or_default();
                e.0 += u64::from(phase == Phase::Fresh);
                e.1 += u64::from(phase == Phase::Stale);
                e.2 += row.payload.len() as u64;
            }
        }
        let got: BTreeMap<&str, (u64, u64, u64)> = stats
            .namespaces
            .iter()
            .filter(|(_, n)| n.fresh + n.stale > 0)
            .map(|(k, n)| (k.as_str(), (n.fresh, n.stale, n.payload_bytes)))
            .collect();
        if got != want {
            return Err(fail(
                step,
                format!("per-namespace stats: the store {got:?}, the model {want:?}"),
            ));
        }
    }
    Ok(())
}
