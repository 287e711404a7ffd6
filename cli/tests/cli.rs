//! The real `cachestore` binary against real SQLite and redb files.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cachestore(store: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachestore"))
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cachestore");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

fn ok(store: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = cachestore(store, args, stdin);
    assert!(
        out.status.success(),
        "cachestore {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fails(store: &str, args: &[&str], stdin: Option<&[u8]>, code: i32, says: &str) {
    let out = cachestore(store, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "cachestore {args:?}: {stderr}");
    assert!(stderr.contains(says), "cachestore {args:?} said {stderr:?}, not {says:?}");
    assert_eq!(stderr.trim().lines().count(), 1, "not a one-line error: {stderr:?}");
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn redb(dir: &Path, name: &str) -> String {
    format!("redb://{}", dir.join(name).display())
}

/// A store with fresh, stale, never-expiring, header-carrying, binary and
/// empty rows, in several namespaces, and more than one scan page.
fn fill(store: &str) {
    ok(
        store,
        &[
            "set",
            "movies",
            "603",
            "--ttl",
            "1h",
            "--stale-for",
            "1d",
            "--header",
            "etag=\"v1\"",
            "--header",
            "k=v=w",
        ],
        Some(br#"{"title":"The Matrix"}"#),
    );
    ok(store, &["set", "movies", "stale", "--ttl", "0s", "--stale-for", "2d"], Some(b"old"));
    ok(store, &["set", "a:b", "c", "--ttl", "never"], Some(&[0, 159, 146, 150, 255]));
    ok(store, &["set", "a", "b:c", "--ttl", "7d"], Some(b""));
    let mut lines = String::new();
    for i in 0..1_200 {
        lines.push_str(&format!(
            r#"{{"namespace":"bulk","key":"k{i:05}","payload_base64":"aGk=","headers":{{"n":"{i}"}},"stored_at_ms":1767225600000,"expires_at_ms":{},"stale_until_ms":{}}}"#,
            4_000_000_000_000i64 + i,
            4_000_000_000_000i64 + 2 * i
        ));
        lines.push('\n');
    }
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(file.path(), lines).expect("write");
    ok(store, &["import", &file.path().display().to_string()], None);
}

#[test]
fn export_import_export_is_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    let first = ok(&a, &["export"], None);
    assert_eq!(first.lines().count(), 1_204, "every live row is exported");
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &first).expect("write");
    let b = sqlite(dir.path(), "b.sqlite");
    ok(&b, &["import", &file.display().to_string()], None);
    assert_eq!(ok(&b, &["export"], None), first, "an import changed a row");
    // The export file argument writes the same lines.
    let to_file = dir.path().join("again.jsonl");
    ok(&b, &["export", &to_file.display().to_string()], None);
    assert_eq!(std::fs::read_to_string(to_file).expect("read"), first);
}

#[test]
fn migrating_sqlite_to_redb_to_sqlite_keeps_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, r, b) = (
        sqlite(dir.path(), "a.sqlite"),
        redb(dir.path(), "r.redb"),
        sqlite(dir.path(), "b.sqlite"),
    );
    fill(&a);
    let state = dir.path().join("m.state").display().to_string();
    ok(&a, &["migrate", &a, &r, "--state", &state], None);
    ok(&a, &["migrate", &r, &b, "--state", &state], None);
    assert_eq!(ok(&b, &["export"], None), ok(&a, &["export"], None));
}

#[test]
fn an_interrupted_migration_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (sqlite(dir.path(), "a.sqlite"), redb(dir.path(), "b.redb"));
    fill(&a);
    let state = dir.path().join("m.state");
    let s = state.display().to_string();
    let out = ok(&a, &["migrate", &a, &b, "--state", &s, "--max-pages", "1"], None);
    assert!(out.contains("resume"), "{out}");
    assert!(state.exists(), "no state file after an interrupted migration");
    let partial = ok(&b, &["export"], None).lines().count();
    assert!(partial > 0 && partial < 1_204, "{partial} rows after one page");
    ok(&a, &["migrate", &a, &b, "--state", &s], None);
    assert!(!state.exists(), "the state file outlived the migration");
    assert_eq!(ok(&b, &["export"], None), ok(&a, &["export"], None));
    // A state file of another migration is refused.
    std::fs::write(
        &state,
        r#"{"from":"x","to":"y","after_namespace":"a","after_key":"b","copied":1}"#,
    )
    .expect("write");
    fails(&a, &["migrate", &a, &b, "--state", &s], None, 5, "belongs to a migration");
}

#[test]
fn bad_import_lines_are_reported_by_number_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    let good = r#"{"namespace":"n","key":"k","payload_base64":"aGk=","headers":{},"stored_at_ms":1,"expires_at_ms":null,"stale_until_ms":null}"#;
    let lines = [
        good,
        "not json",
        r#"{"namespace":"","key":"k","payload_base64":"","headers":{},"stored_at_ms":1,"expires_at_ms":null,"stale_until_ms":null}"#,
        r#"{"namespace":"n","key":"k2","payload_base64":"!!!","headers":{},"stored_at_ms":1,"expires_at_ms":null,"stale_until_ms":null}"#,
        r#"{"namespace":"n","key":"k3","payload_base64":"","headers":{},"stored_at_ms":1,"expires_at_ms":5,"stale_until_ms":4}"#,
        good,
    ];
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write");
    let out = cachestore(&a, &["import", &file.display().to_string()], None);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in [2, 3, 4, 5] {
        assert!(stderr.contains(&format!("line {n}:")), "line {n} not reported: {stderr}");
    }
    assert!(!stderr.contains("line 1:") && !stderr.contains("line 6:"), "{stderr}");
    // Nothing was written: the store was not even created.
    assert!(!dir.path().join("a.sqlite").exists(), "a failed import created the store");
    fails(&a, &["export"], None, 1, "no store at");
}

#[test]
fn clear_refuses_without_yes_in_a_non_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    fails(&a, &["clear", "movies"], None, 4, "--yes");
    fails(&a, &["clear", "--all"], None, 4, "--yes");
    assert_eq!(ok(&a, &["export"], None).lines().count(), 1_204, "a refused clear removed rows");
    assert!(ok(&a, &["clear", "movies", "--yes"], None).contains("cleared 2 rows"));
    assert!(ok(&a, &["clear", "--all", "--yes"], None).contains("cleared 1202 rows"));
}

#[test]
fn set_get_ls_stats_and_purge_work_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = redb(dir.path(), "a.redb");
    fill(&a);
    assert_eq!(ok(&a, &["get", "movies", "603"], None), r#"{"title":"The Matrix"}"#);
    let out = cachestore(&a, &["get", "movies", "603", "--meta"], None);
    let meta = String::from_utf8_lossy(&out.stderr);
    assert!(meta.contains("header: etag: \"v1\"") && meta.contains("header: k: v=w"), "{meta}");
    assert_eq!(ok(&a, &["get", "movies", "stale", "--stale"], None), "old");
    let ls = ok(&a, &["ls", "movies"], None);
    assert!(ls.contains("movies\t603\t22 B\tin 59m"), "{ls}");
    assert!(ls.contains("stale since"), "{ls}");
    assert_eq!(ok(&a, &["ls", "bulk", "--prefix", "k001"], None).lines().count(), 100);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&a, &["stats", "--json"], None)).expect("json");
    assert_eq!(stats["namespaces"]["bulk"]["fresh"], 1_200);
    assert_eq!(stats["namespaces"]["movies"]["stale"], 1);
    assert!(stats["file_size_bytes"].as_u64().is_some_and(|n| n > 0));
    assert!(ok(&a, &["stats"], None).contains("size on disk"));
    ok(&a, &["set", "tmp", "dead", "--ttl", "0s"], Some(b"x"));
    assert!(ok(&a, &["purge", "--dry-run"], None).contains("1 dead rows"));
    assert!(ok(&a, &["purge"], None).contains("purged 1 dead rows"));
    assert!(ok(&a, &["purge", "--dry-run"], None).contains("0 dead rows"));
    ok(&a, &["del", "movies", "603"], None);
    fails(&a, &["get", "movies", "603"], None, 3, "no fresh row");
    let bench = ok(&a, &["bench", "--ops", "50"], None);
    assert!(bench.contains("get hit") && bench.contains("set_many x100"), "{bench}");
}

#[test]
fn every_error_path_is_one_line_with_a_nonzero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    ok(&a, &["set", "ns", "other", "--ttl", "1h"], Some(b"x"));
    fails(&a, &["get", "ns", "missing"], None, 3, "no fresh row");
    fails(&a, &["del", "ns", "missing"], None, 3, "no row");
    fails(&a, &["set", "ns", "k", "--ttl", "soon"], Some(b"x"), 5, "--ttl");
    fails(&a, &["set", "ns", "k", "--ttl", "1h", "--header", "novalue"], Some(b"x"), 5, "K=V");
    fails(&a, &["set", "", "k", "--ttl", "1h"], Some(b"x"), 1, "invalid namespace");
    fails(&a, &["import", "/nonexistent/file.jsonl"], None, 1, "reading");
    fails(&a, &["export", "/nonexistent/dir/out.jsonl"], None, 1, "creating");
    fails("ftp://host", &["stats"], None, 1, "unknown scheme");
    fails("sqlite://", &["ls"], None, 1, "no file path");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").expect("write");
    let foreign = format!("sqlite://{}", text.display());
    // A text file is said to be one; recreating it is never suggested.
    fails(&foreign, &["stats"], None, 1, "a text file, not a cachestore SQLite file");
    fails(&foreign, &["purge"], None, 1, "point --store at a cachestore file");
    fails(
        &a,
        &["migrate", &foreign, &a, "--state", &dir.path().join("s").display().to_string()],
        None,
        1,
        "a text file",
    );
    fails(&format!("redb://{}", text.display()), &["bench"], None, 1, "not a cachestore redb file");
    // A redb cache opened as sqlite:// is named, with the URL that opens it.
    let r = redb(dir.path(), "r.redb");
    ok(&r, &["set", "ns", "k", "--ttl", "1h"], Some(b"x"));
    let wrong = format!("sqlite://{}", dir.path().join("r.redb").display());
    fails(&wrong, &["stats"], None, 1, "this is a redb cache, not a SQLite one");
    // Without its log beside it, the file itself is named.
    std::fs::remove_file(dir.path().join("r.redb-wal")).expect("remove the log");
    fails(&wrong, &["stats"], None, 1, "a redb database (cachestore opens its own as redb://");
    let out = cachestore(&wrong, &["stats"], None);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("recreate"), "recreate suggested");
}

#[test]
fn help_lists_the_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_cachestore")).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for code in ["0 success", "3 row not found", "4 refused", "5 bad input"] {
        assert!(help.contains(code), "--help does not say {code:?}: {help}");
    }
}

/// A private `redis-server` on a free loopback port with a password, stopped
/// on drop; `None` (with a loud line, or a failure under
/// `CACHESTORE_REQUIRE_SERVICES=1`) where there is no `redis-server`.
struct PasswordRedis {
    child: std::process::Child,
    port: u16,
}

impl PasswordRedis {
    fn start(password: &str) -> Option<PasswordRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--requirepass", password])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            let why = "SKIPPED: redis-server is not installed (bash .ci/install-services)";
            assert!(
                std::env::var("CACHESTORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{why}, and CACHESTORE_REQUIRE_SERVICES=1"
            );
            println!("{why}");
            return None;
        };
        let server = PasswordRedis { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server did not start on port {port}");
    }
}

impl Drop for PasswordRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Exports and migration state files are 0600 under umask 022, and neither
/// they nor any message hold the password of a store URL.
#[test]
fn written_files_are_private_and_hold_no_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    let export = dir.path().join("rows.jsonl");
    let umask_022 = |args: &[&str]| {
        let out = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_cachestore"))
            .args(args)
            .output()
            .expect("run cachestore");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (done, stderr) = umask_022(&["--store", &a, "export", &export.display().to_string()]);
    assert!(done, "{stderr}");
    assert_eq!(mode(&export), 0o600, "an export is readable by others");

    let password = "pw-of-the-cache-7f3a";
    let Some(redis) = PasswordRedis::start(password) else { return };
    let to = format!("redis://:{password}@127.0.0.1:{}/0", redis.port);
    let state = dir.path().join("m.state");
    let s = state.display().to_string();
    let (done, stderr) =
        umask_022(&["--store", &a, "migrate", &a, &to, "--state", &s, "--max-pages", "1"]);
    assert!(done, "{stderr}");
    assert_eq!(mode(&state), 0o600, "the migration state is readable by others");
    let saved = std::fs::read_to_string(&state).expect("state");
    assert!(!saved.contains(password), "the state file holds the password: {saved}");
    assert!(saved.contains("***"), "{saved}");
    // Resuming with the same URLs works; another destination is refused,
    // without the password in the message.
    let b = sqlite(dir.path(), "b.sqlite");
    let out = cachestore(&a, &["migrate", &a, &b, "--state", &s], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("belongs to a migration") && !stderr.contains(password), "{stderr}");
    ok(&a, &["migrate", &a, &to, "--state", &s], None);
    assert!(!state.exists());
    // A wrong password: the error names the server, not the password.
    let wrong = format!("redis://:{password}-wrong@127.0.0.1:{}/0", redis.port);
    let out = cachestore(&wrong, &["stats"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains(password), "{stderr}");
}

/// An import line whose times are legal but far apart is imported or refused
/// with a one-line error: never a panic.
#[test]
fn import_with_times_far_apart_does_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    let line = r#"{"namespace":"ns","key":"k","payload_base64":"","headers":{},"stored_at_ms":0,"expires_at_ms":-9000000000000000000,"stale_until_ms":9000000000000000000}"#;
    let file = dir.path().join("far.jsonl");
    std::fs::write(&file, line).expect("write");
    let out = cachestore(&a, &["import", &file.display().to_string()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "import panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.code() == Some(5), "{stderr}");
}

/// A row the store refuses (a payload over its limit), after valid lines of
/// other moments: nothing is written, and the line is named.
#[test]
fn an_import_the_store_would_refuse_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = format!("{}?max_payload=16777216", sqlite(dir.path(), "a.sqlite"));
    let small = |key: &str, at: u64| {
        format!(
            r#"{{"namespace":"n","key":"{key}","payload_base64":"aGk=","headers":{{}},"stored_at_ms":{at},"expires_at_ms":null,"stale_until_ms":null}}"#
        )
    };
    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 16 * 1024 * 1024 + 1]);
    let huge = format!(
        r#"{{"namespace":"n","key":"big","payload_base64":"{big}","headers":{{}},"stored_at_ms":3,"expires_at_ms":null,"stale_until_ms":null}}"#
    );
    let file = dir.path().join("over.jsonl");
    std::fs::write(&file, [small("a", 1), small("b", 2), huge].join("\n")).expect("write");
    let out = cachestore(&a, &["import", &file.display().to_string()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("line 3:") && stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(ok(&a, &["export"], None), "", "a refused import wrote rows");
}

/// A reader that stops reading (`cachestore ls | head -1`) is a normal end:
/// exit 0 and nothing on stderr, as every Unix tool does, through a real
/// pipe with more output than its buffer holds.
#[test]
fn a_closed_pipe_is_a_normal_end() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    let mut lines = String::new();
    for i in 0..6_000 {
        lines.push_str(&format!(
            r#"{{"namespace":"more","key":"k{i:05}","payload_base64":"aGk=","headers":{{}},"stored_at_ms":1767225600000,"expires_at_ms":null,"stale_until_ms":null}}"#
        ));
        lines.push('\n');
    }
    let file = dir.path().join("more.jsonl");
    std::fs::write(&file, lines).expect("write");
    ok(&a, &["import", &file.display().to_string()], None);
    for args in [&["ls"][..], &["export"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cachestore"))
            .arg("--store")
            .arg(&a)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cachestore");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        std::io::BufReader::new(stdout).read_line(&mut first).expect("a first line");
        assert!(!first.is_empty(), "{args:?} printed nothing");
        // The reader is gone: the pipe is closed with most output unread.
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} | head -1 exited {:?}: {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} | head -1 printed: {stderr}");
    }
}

/// Commands that need an existing store say there is none at a mistyped
/// path and create nothing there, not even its directories.
#[test]
fn a_missing_store_is_an_error_that_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for scheme in ["sqlite", "redb"] {
        let missing = dir.path().join("typo").join(format!("cache.{scheme}"));
        let url = format!("{scheme}://{}", missing.display());
        let elsewhere = format!("sqlite://{}", dir.path().join("x.sqlite").display());
        let to = dir.path().join("to.sqlite").display().to_string();
        let state = dir.path().join("m.state").display().to_string();
        for args in [
            &["stats"][..],
            &["get", "ns", "k"],
            &["ls"],
            &["export"],
            &["del", "ns", "k"],
            &["purge"],
            &["clear", "--all", "--yes"],
        ] {
            fails(&url, args, None, 1, "no store at");
        }
        fails(
            &elsewhere,
            &["migrate", &url, &format!("sqlite://{to}"), "--state", &state],
            None,
            1,
            "no store at",
        );
        assert!(!dir.path().join("typo").exists(), "{scheme}: a directory was created");
    }
}

/// `bench` works in a namespace of its own and removes only what it wrote:
/// the user's rows, dead ones included, are all still there after it, and
/// its timings are scaled for people.
#[test]
fn bench_never_touches_the_users_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    ok(&a, &["set", "mine", "dead", "--ttl", "0s"], Some(b"gone soon"));
    let before = ok(&a, &["purge", "--dry-run"], None);
    assert!(before.contains(" 1 dead"), "{before}");
    let rows_before = ok(&a, &["export"], None);
    let out = ok(&a, &["bench", "--ops", "20"], None);
    assert_eq!(ok(&a, &["purge", "--dry-run"], None), before, "bench purged the user's dead rows");
    assert_eq!(ok(&a, &["export"], None), rows_before, "bench changed the user's rows");
    assert!(out.contains("clear its rows"), "{out}");
    for line in out.lines().skip(1) {
        let median = line.split_whitespace().nth_back(2).expect("a median");
        assert!(median.len() <= 4, "an unscaled median {median:?} in {line:?}");
    }
}

/// Output for people: `get --meta` shows dates and sizes (never `Some(…)`
/// or raw milliseconds), and the stats table keeps its columns with a long
/// namespace.
#[test]
fn output_is_for_people() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    let long = "a-namespace-well-over-thirty-two-bytes-long";
    ok(&a, &["set", long, "k", "--ttl", "1h", "--stale-for", "1d"], Some(&[7u8; 3000]));
    ok(&a, &["set", "n", "k", "--ttl", "never"], Some(b"x"));
    let out = cachestore(&a, &["get", long, "k", "--meta"], None);
    let meta = String::from_utf8_lossy(&out.stderr);
    assert!(!meta.contains("Some(") && !meta.contains("None"), "{meta}");
    let year = |line: &str| line.contains("20") && line.contains('T') && line.contains('Z');
    assert!(meta.lines().any(|l| l.starts_with("stored:") && year(l)), "{meta}");
    assert!(meta.lines().any(|l| l.starts_with("expires:") && year(l)), "{meta}");
    assert!(meta.contains("2.93 KiB"), "no size for people: {meta}");
    let never = String::from_utf8_lossy(&cachestore(&a, &["get", "n", "k", "--meta"], None).stderr)
        .into_owned();
    assert!(never.lines().any(|l| l.starts_with("expires:") && l.contains("never")), "{never}");
    let table = ok(&a, &["stats"], None);
    let rows: Vec<&str> = table.lines().take(3).collect();
    let column = |line: &str, word: &str| line.find(word).expect(word);
    let fresh_at = column(rows[0], "fresh") + "fresh".len();
    for row in &rows[1..] {
        // The fresh count ends where the header's "fresh" ends.
        let end = row[..fresh_at].trim_end().len();
        assert_eq!(end, fresh_at, "a misaligned row: {row:?} under {:?}", rows[0]);
    }
    assert!(table.contains("2.93 KiB"), "{table}");

    // cachestore's own headers are bookkeeping, not shown; a cached failure says so.
    let headers = ["--header", "etag=v1", "--header", "X-Cachestore-Codec=json"];
    ok(&a, &[&["set", "h", "k", "--ttl", "1h"][..], &headers[..]].concat(), Some(b"1"));
    ok(
        &a,
        &["set", "h", "bad", "--ttl", "1h", "--header", "x-cachestore-negative=1"],
        Some(b"503"),
    );
    let meta = |key: &str| {
        String::from_utf8_lossy(&cachestore(&a, &["get", "h", key, "--meta"], None).stderr)
            .into_owned()
    };
    let shown = meta("k");
    assert!(shown.contains("header: etag: v1"), "{shown}");
    assert!(!shown.to_ascii_lowercase().contains("x-cachestore"), "{shown}");
    let failure = meta("bad");
    assert!(failure.contains("a cached failure") && !failure.contains("x-cachestore"), "{failure}");
}

/// `export | import -` copies a store through a real pipe, and an import
/// streams: its peak memory stays well under the size of its input (it
/// read the whole file, and held every row, before).
#[test]
fn import_reads_stdin_and_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (sqlite(dir.path(), "a.sqlite"), sqlite(dir.path(), "b.sqlite"));
    fill(&a);
    let mut export = Command::new(env!("CARGO_BIN_EXE_cachestore"))
        .args(["--store", &a, "export"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("export");
    let import = Command::new(env!("CARGO_BIN_EXE_cachestore"))
        .args(["--store", &b, "import", "-"])
        .stdin(Stdio::from(export.stdout.take().expect("stdout")))
        .output()
        .expect("import");
    assert!(export.wait().expect("export").success(), "the export failed");
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    assert_eq!(ok(&b, &["export"], None), ok(&a, &["export"], None));

    // About 80 MB of lines (6,000 rows of 10 KiB).
    let file = dir.path().join("big.jsonl");
    {
        use std::io::Write as _;
        let payload = "QUJD".repeat(10 * 1024 / 3);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        for i in 0..6_000 {
            writeln!(
                out,
                r#"{{"namespace":"big","key":"k{i}","payload_base64":"{payload}","headers":{{}},"stored_at_ms":1767225600000,"expires_at_ms":null,"stale_until_ms":null}}"#
            )
            .expect("write");
        }
    }
    let input = std::fs::metadata(&file).expect("size").len();
    let c = sqlite(dir.path(), "c.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachestore"))
        .args(["--store", &c, "import", &file.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("import");
    // The high-water mark of its resident memory, read until it exits.
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(peak_kib > 0, "no memory reading");
    let peak = peak_kib * 1024;
    println!("import of {} MB peaked at {} MB", input >> 20, peak >> 20);
    assert!(peak < input * 2 / 3, "an import of {input} bytes peaked at {peak} bytes");
    let stats = ok(&c, &["stats"], None);
    assert!(stats.contains("6000"), "{stats}");
}

/// `--json` on the commands that print rows or measurements: `ls` writes
/// valid JSON Lines (one object per row), `bench` and `stats` one object.
#[test]
fn json_output_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    fill(&a);
    let lines = ok(&a, &["ls", "--json"], None);
    assert_eq!(lines.lines().count(), 1_204);
    for line in lines.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(row["key"].is_string() && row["payload_bytes"].is_u64(), "{line}");
        assert!(row["fresh"].is_boolean() && row["stored_at_ms"].is_i64(), "{line}");
    }
    let bench: serde_json::Value =
        serde_json::from_str(&ok(&a, &["bench", "--ops", "20", "--json"], None)).expect("JSON");
    assert!(bench["set"]["median_ns"].as_u64().is_some_and(|n| n > 0), "{bench}");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&a, &["stats", "--json"], None)).expect("JSON");
    assert!(stats["namespaces"]["bulk"]["fresh"].as_u64() == Some(1_200), "{stats}");
}

/// Tags from the command line: `set --tag`, shown by `get --meta` and
/// `get --json`, and `invalidate TAG` removing the tagged rows of every
/// namespace; `get --json` is one valid JSON object with every field.
#[test]
fn tags_and_json_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = sqlite(dir.path(), "a.sqlite");
    for ns in ["musicbrainz", "discogs"] {
        ok(
            &a,
            &["set", ns, "angel", "--ttl", "1h", "--tag", "album:mezzanine", "--tag", "artist:ma"],
            Some(b"6:18"),
        );
    }
    ok(&a, &["set", "discogs", "airbag", "--ttl", "1h", "--tag", "album:ok"], Some(b"4:44"));
    let meta = String::from_utf8_lossy(
        &cachestore(&a, &["get", "discogs", "angel", "--meta"], None).stderr,
    )
    .into_owned();
    assert!(meta.contains("tags:        album:mezzanine, artist:ma"), "{meta}");
    assert!(meta.lines().any(|l| l.starts_with("version:")), "{meta}");
    let json = ok(&a, &["get", "discogs", "angel", "--json"], None);
    assert_eq!(json.lines().count(), 1, "{json}");
    let row: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(row["namespace"], "discogs");
    assert_eq!(row["payload_base64"], "NjoxOA==");
    assert_eq!(row["tags"], serde_json::json!(["album:mezzanine", "artist:ma"]));
    assert_eq!(row["fresh"], true);
    assert!(
        row["version"].as_u64().is_some_and(|v| v > 0) && row["stored_at_ms"].is_i64(),
        "{row}"
    );
    let removed = ok(&a, &["invalidate", "album:mezzanine"], None);
    assert!(removed.contains("removed 2 rows"), "{removed}");
    fails(&a, &["get", "musicbrainz", "angel"], None, 3, "no fresh row");
    assert_eq!(ok(&a, &["get", "discogs", "airbag"], None), "4:44");
    fails(&a, &["invalidate", ""], None, 1, "invalid tags");
}
