//! Reliability with real processes (SIGKILL mid-write, four processes on one
//! file, a full disk): the shared harness of `cachestore_conformance::processes`.

mod support;

fn main() -> std::process::ExitCode {
    cachestore_conformance::processes::main(&support::BACKEND)
}
