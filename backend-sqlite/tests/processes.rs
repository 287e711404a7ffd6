//! Reliability with real processes (SIGKILL mid-write, four processes on one
//! file, a full disk): the shared harness of `cachestore_test_harness::processes`.

mod support;

fn main() -> std::process::ExitCode {
    cachestore_test_harness::processes::main(&support::BACKEND)
}
