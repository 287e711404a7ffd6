//! A child process for a SIGKILL test written as an ordinary `#[test]`: the
//! test binary runs itself again with only that test selected and an
//! environment variable that tells the test it is the child.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs this test binary again as a child that runs only `test`, with `var`
/// set to `value`; waits until the child has printed `lines` lines on its
/// standard output (the child prints one per acknowledged write), then
/// kills it with SIGKILL and reaps it. Panics, saying so, if the child
/// ends before that.
pub fn kill_after_lines(test: &str, var: &str, value: &std::path::Path, lines: usize) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("the child's stdout");
    let seen = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("written "))
        .take(lines)
        .count();
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the child");
    assert_eq!(seen, lines, "the child stopped after {seen} of {lines} writes");
}
