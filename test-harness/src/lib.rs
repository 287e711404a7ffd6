//! # cachestore-test-harness
//!
//! Unpublished: what cachestore's own backends test and measure with beyond
//! the conformance suite. A third-party backend depends on
//! `cachestore-conformance` alone; these are here to read and copy from.
//!
//! - [`processes`]: real processes: SIGKILL mid-write, at creation and
//!   during recovery, processes racing to open one file, a full disk, a
//!   second process; run as a `harness = false` test with `libtest-mimic`;
//! - [`corruption`]: the corruption campaign those tests run, and one
//!   flipped payload byte;
//! - [`fixture`]: golden files every later release must open;
//! - [`bench`](mod@bench): the store's side of benchmarks against the raw
//!   engines, and their ratio tables;
//! - [`runtime`]: whether writes leave the runtime thread free;
//! - [`child`]: a SIGKILLed child for a test written as a plain `#[test]`.
#![deny(missing_docs)]

pub mod bench;
pub mod bound_bench;
pub mod child;
pub mod corruption;
pub mod fixture;
pub mod processes;
pub mod runtime;
pub mod stats_bench;
