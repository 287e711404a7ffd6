//! The schema upgrade (version 1 to 2, CONTRACT.md §5 and §12 of the
//! design) is one crash-safe step: a version-1 file of 100,000 rows (the
//! golden `tests/fixtures/v1.sqlite` plus rows written into its version-1
//! table as version 1 wrote them) is opened by a child process that is
//! killed (SIGKILL) at a random moment of the upgrade, again and again;
//! every image then opens, as version 1 upgraded at that open or as
//! version 2, with every row whole.
//!
//! `harness = false`: started with `child <path>` the binary is the process
//! that upgrades and gets killed. `CACHESTORE_UPGRADE_KILLS` sets the number
//! of kills (20 by default), `CACHESTORE_UPGRADE_ROWS` the rows (100,000).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::encoding::{checksum, encode_headers};
use cachestore_core::{CacheStore, Headers};
use cachestore_sqlite::SqliteStore;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite")
}

fn payload(i: u64) -> Vec<u8> {
    format!("row {i} ").repeat(1 + (i % 13) as usize).into_bytes()
}

fn headers(i: u64) -> Headers {
    [
        ("etag".to_owned(), format!("\"{i}\"")),
        ("content-type".to_owned(), "application/json".to_owned()),
    ]
    .into()
}

/// Copies the golden version-1 file and adds `rows` rows to its version-1
/// table, each as version 1's writer stored it (its checksum over identity,
/// times, headers and payload). Never expire, so all stay live.
fn big_v1_file(dir: &Path, rows: u64) -> Result<PathBuf, String> {
    let path = dir.join("v1-big.sqlite");
    std::fs::copy(fixture(), &path).map_err(|e| e.to_string())?;
    let mut conn = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
    let version: i64 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| e.to_string())?;
    if version != 1 {
        return Err(format!("the golden file is at schema version {version}, not 1"));
    }
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO cache_rows (namespace, key, stored_at, expires_at, stale_until, \
                 payload_len, checksum, headers, payload) VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| e.to_string())?;
        for i in 0..rows {
            let (ns, key) = ("big", format!("k{i:06}"));
            let times = RowTimes {
                stored_at: 1_700_000_000_000 + i as i64,
                expires_at: None,
                stale_until: None,
            };
            let (blob, body) = (encode_headers(&headers(i)), payload(i));
            let sum = checksum(ns.as_bytes(), key.as_bytes(), &times, &blob, &body);
            insert
                .execute(rusqlite::params![
                    ns.as_bytes(),
                    key.as_bytes(),
                    times.stored_at,
                    body.len() as i64,
                    i64::from(sum),
                    blob,
                    body
                ])
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(path)
}

/// Opens the store (upgrading it) and reads back every big row.
fn check(path: &Path, rows: u64) -> Result<(), String> {
    let store = SqliteStore::open(path).map_err(|e| format!("the image does not open: {e}"))?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        store.integrity_check().await.map_err(|e| e.to_string())?;
        let stats = store.stats().await.map_err(|e| e.to_string())?;
        let big = stats.namespaces.get("big").map_or(0, |n| n.fresh);
        if big != rows {
            return Err(format!("{big} big rows after the upgrade, not {rows}"));
        }
        for i in (0..rows).step_by(97) {
            let key = format!("k{i:06}");
            let row = store
                .get("big", &key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or(format!("{key} is missing"))?;
            if row.payload[..] != payload(i)[..] || row.headers != headers(i) || row.version != 0 {
                return Err(format!("{key} changed in the upgrade"));
            }
        }
        Ok(())
    })?;
    let user_version: i64 = rusqlite::Connection::open(path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .map_err(|e| e.to_string())?;
    if user_version != i64::from(cachestore_sqlite::SCHEMA_VERSION) {
        return Err(format!("still at schema version {user_version} after opening"));
    }
    Ok(())
}

fn copy_image(from: &Path, to: &Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let src = PathBuf::from(format!("{}{suffix}", from.display()));
        let dst = PathBuf::from(format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(&src, &dst).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The child: says it is about to open, opens (upgrading), says done.
fn child(path: &Path) -> Result<(), String> {
    println!("opening");
    let store = SqliteStore::open(path).map_err(|e| e.to_string())?;
    println!("done");
    drop(store);
    Ok(())
}

fn kill_loop() -> Result<(), String> {
    let rows = env_or("CACHESTORE_UPGRADE_ROWS", 100_000);
    let kills = env_or("CACHESTORE_UPGRADE_KILLS", 20);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let original = big_v1_file(dir.path(), rows)?;
    // How long an upgrade takes here, to aim the kills inside it.
    let timed = dir.path().join("timed.sqlite");
    copy_image(&original, &timed)?;
    let started = Instant::now();
    drop(SqliteStore::open(&timed).map_err(|e| e.to_string())?);
    let upgrade = started.elapsed();
    check(&timed, rows)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    let mut mid = 0;
    for round in 0..kills {
        let image = dir.path().join(format!("round{round}.sqlite"));
        copy_image(&original, &image)?;
        let mut child = Command::new(&exe)
            .args(["child", &image.display().to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        match lines.next() {
            Some(Ok(l)) if l == "opening" => {}
            other => return Err(format!("round {round}: the child said {other:?}")),
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = upgrade.mul_f64((seed % 1000) as f64 / 1000.0 * 1.1);
        std::thread::sleep(at);
        child.kill().map_err(|e| e.to_string())?;
        child.wait().map_err(|e| e.to_string())?;
        if !lines.any(|l| l.is_ok_and(|l| l == "done")) {
            mid += 1;
        }
        check(&image, rows).map_err(|e| format!("round {round} (killed at {at:?}): {e}"))?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", image.display()));
        }
    }
    println!(
        "  {kills} kills during the upgrade of {rows} rows (an upgrade takes {upgrade:?}); {mid} \
         landed before it finished; every image opened with every row"
    );
    if mid == 0 {
        return Err("no kill landed inside the upgrade: the loop proved nothing".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let Some(path) = args.get(2) else { return ExitCode::FAILURE };
        return match child(Path::new(path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("child failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![libtest_mimic::Trial::test(
        "sigkill_during_the_upgrade_of_100k_rows_leaves_old_or_new_with_every_row",
        || Ok(kill_loop()?),
    )];
    libtest_mimic::run(&arguments, trials).exit_code()
}
