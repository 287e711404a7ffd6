//! `cachestore`: inspect, maintain and move caches on any backend.
//!
//! Every command takes the store as a URL (`--store sqlite:///path`,
//! `redb:///path`, `memory://`); the default is the platform cache path for
//! the app `cachestore` (`~/.cache/cachestore/cache.sqlite` on Linux).
//!
//! Exit codes: 0 success; 1 the store or a file failed; 2 bad usage (clap);
//! 3 the row was not found (`get`, `del`); 4 refused (`clear` without
//! `--yes` where it cannot ask); 5 bad input (`import` lines, `set` options).

mod rows;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cachestore::{
    Bytes, CacheStore, Clock, ManualClock, ScanCursor, SetItem, SetOptions, SharedClock,
    SystemClock, Ttl, redact_url,
};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::rows::{Line, write_rows};

#[derive(Parser)]
#[command(
    name = "cachestore",
    version,
    about = "Inspect, maintain and move cachestore caches.",
    after_help = "Exit codes: 0 success; 1 the store or a file failed; 2 bad usage; \
                  3 row not found (get, del); 4 refused (clear without --yes where it cannot ask); \
                  5 bad input (import lines, set options, another migration's state file)."
)]
struct Cli {
    /// The store: memory://, sqlite:///path or redb:///path (with ?options).
    /// Default: the platform cache path, as sqlite.
    #[arg(long, global = true, env = "CACHESTORE_URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rows, bytes, oldest and newest row per namespace, and the file size.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a row's payload to stdout.
    Get {
        /// Namespace.
        ns: String,
        /// Key.
        key: String,
        /// Also print the headers and times (to stderr).
        #[arg(long)]
        meta: bool,
        /// Return a stale row too.
        #[arg(long)]
        stale: bool,
    },
    /// Store stdin as a row's payload.
    Set {
        /// Namespace.
        ns: String,
        /// Key.
        key: String,
        /// How long the row is fresh: 30s, 1h, 7d… or "never".
        #[arg(long)]
        ttl: String,
        /// How long after that it may be served stale.
        #[arg(long)]
        stale_for: Option<String>,
        /// A header, K=V; repeat for more.
        #[arg(long = "header", value_name = "K=V")]
        headers: Vec<String>,
    },
    /// Delete a row.
    Del {
        /// Namespace.
        ns: String,
        /// Key.
        key: String,
    },
    /// List rows, with their expiry for people.
    Ls {
        /// Only this namespace.
        ns: Option<String>,
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Remove dead rows.
    Purge {
        /// Count them instead.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove a namespace's rows, or all rows.
    Clear {
        /// The namespace.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ns: Option<String>,
        /// Every namespace.
        #[arg(long)]
        all: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Write every row as JSON Lines (payload in base64).
    Export {
        /// The file; default stdout.
        file: Option<PathBuf>,
    },
    /// Read rows from JSON Lines; nothing is written unless every line is valid
    /// and one the store accepts (payload limit, times). A store that fails
    /// while writing (a full disk) is reported with how many rows were written.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Copy every row, with all its metadata, from one store to another.
    /// Resumable: progress is kept in a state file until the copy finishes.
    Migrate {
        /// Source URL.
        from: String,
        /// Destination URL.
        to: String,
        /// The state file. Default: cachestore-migrate.state in the current directory.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Stop after this many pages (to test resuming).
        #[arg(long, hide = true)]
        max_pages: Option<u64>,
    },
    /// The standard workload against the store: medians and ops/s.
    Bench {
        /// Operations per measurement.
        #[arg(long, default_value_t = 2000)]
        ops: u64,
    },
}

/// A failure with its exit code and a hint.
struct Failure {
    code: u8,
    message: String,
    hint: Option<&'static str>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), hint: None }
    }
    fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
}

impl From<cachestore::Error> for Failure {
    fn from(e: cachestore::Error) -> Self {
        let hint = match &e {
            cachestore::Error::InUse { .. } => {
                Some("close the other program using the file, or use another path")
            }
            cachestore::Error::Corrupt { .. } => {
                Some("open it with ?recreate_if_corrupt=true to move it aside")
            }
            cachestore::Error::Incompatible { .. } => Some("point --store at a cachestore file"),
            cachestore::Error::Config { .. } => Some("see `cachestore --help` for store URLs"),
            _ => None,
        };
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = s.source();
        }
        Failure { code: 1, message, hint }
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return report(Failure::new(1, format!("cannot start a runtime: {e}"))),
        };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

fn report(f: Failure) -> ExitCode {
    match f.hint {
        Some(hint) => eprintln!("error: {} (hint: {hint})", f.message),
        None => eprintln!("error: {}", f.message),
    }
    ExitCode::from(f.code)
}

fn store_url(cli: &Cli) -> Result<String, Failure> {
    match &cli.store {
        Some(url) => Ok(url.clone()),
        None => {
            let path = cachestore::default_cache_path("cachestore")?;
            Ok(format!("sqlite://{}", path.display()))
        }
    }
}

fn open(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>, Failure> {
    Ok(cachestore::open_with_clock(url, clock)?)
}

async fn run(cli: Cli) -> Outcome {
    let url = store_url(&cli)?;
    // One clock for the whole command, standing at the real time: every
    // phase in one invocation is judged at the same moment, and `purge
    // --dry-run` can look at the rows from another moment.
    let clock = ManualClock::starting_at(SystemTime::now());
    let system: SharedClock = Arc::new(clock.clone());
    match cli.command {
        Command::Stats { json } => stats(&open(&url, system)?, &url, json).await,
        Command::Get { ns, key, meta, stale } => {
            get(&open(&url, system)?, &ns, &key, meta, stale).await
        }
        Command::Set { ns, key, ttl, stale_for, headers } => {
            set(&open(&url, system)?, &ns, &key, &ttl, stale_for.as_deref(), &headers).await
        }
        Command::Del { ns, key } => {
            if open(&url, system)?.delete(&ns, &key).await? {
                Ok(())
            } else {
                Err(Failure::new(3, format!("no row ({ns:?}, {key:?})")))
            }
        }
        Command::Ls { ns, prefix } => {
            ls(&open(&url, system)?, ns.as_deref(), prefix.as_deref()).await
        }
        Command::Purge { dry_run } => purge(&open(&url, system)?, &clock, dry_run).await,
        Command::Clear { ns, all, yes } => {
            clear(&open(&url, system)?, ns.as_deref(), all, yes).await
        }
        Command::Export { file } => export(&open(&url, system)?, file.as_deref()).await,
        Command::Import { file } => import(&url, &file).await,
        Command::Migrate { from, to, state, max_pages } => {
            migrate(&from, &to, state, max_pages).await
        }
        Command::Bench { ops } => bench(&open(&url, system)?, ops).await,
    }
}

/// A progress bar on a terminal, hidden in pipes.
fn progress(len: Option<u64>, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{msg} {bar:40} {pos}/{len} ({per_sec})"
    } else {
        "{msg} {spinner} {pos} ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// Every row, page by page, calling `each` on each page.
async fn scan_pages(
    store: &Arc<dyn CacheStore>,
    ns: Option<&str>,
    mut each: impl FnMut(Vec<cachestore::ScanItem>) -> Outcome,
) -> Outcome {
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = store.scan(ns, cursor.as_ref(), 500).await?;
        each(page.items)?;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

#[derive(Default, Serialize)]
struct NsStats {
    fresh: u64,
    stale: u64,
    payload_bytes: u64,
    oldest_stored_at_ms: Option<i64>,
    newest_stored_at_ms: Option<i64>,
}

fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url.split_once("://")?.1;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !url.starts_with("memory")).then(|| PathBuf::from(path))
}

async fn stats(store: &Arc<dyn CacheStore>, url: &str, json: bool) -> Outcome {
    let now = store.clock().now();
    let mut per: BTreeMap<String, NsStats> = BTreeMap::new();
    scan_pages(store, None, |items| {
        for item in items {
            let s = per.entry(item.namespace).or_default();
            if item.entry.is_fresh(now) {
                s.fresh += 1
            } else {
                s.stale += 1
            }
            s.payload_bytes += item.entry.payload.len() as u64;
            let at = cachestore_core::raw::to_unix_millis(item.entry.stored_at).ok();
            s.oldest_stored_at_ms = s.oldest_stored_at_ms.min(at).or(at);
            s.newest_stored_at_ms = s.newest_stored_at_ms.max(at);
        }
        Ok(())
    })
    .await?;
    let file_size = file_of(url).and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
    if json {
        let out = serde_json::json!({ "namespaces": per, "file_size_bytes": file_size });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<32} {:>8} {:>8} {:>12} {:>14} {:>14}",
        "namespace", "fresh", "stale", "bytes", "oldest", "newest"
    );
    for (ns, s) in &per {
        let age = |ms: Option<i64>| {
            ms.and_then(cachestore_core::raw::from_unix_millis).map_or("-".into(), |t| ago(now, t))
        };
        println!(
            "{:<32} {:>8} {:>8} {:>12} {:>14} {:>14}",
            ns,
            s.fresh,
            s.stale,
            s.payload_bytes,
            age(s.oldest_stored_at_ms),
            age(s.newest_stored_at_ms)
        );
    }
    match file_size {
        Some(n) => println!("file size: {n} bytes"),
        None => println!("file size: - (not a file store)"),
    }
    Ok(())
}

/// "3h 12m", at most two units.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    format!("{} ago", short(now.duration_since(then).unwrap_or_default()))
}

/// Expiry for people: "in 3h 12m", "stale since 2d 1h", "never expires".
fn expiry(entry: &cachestore::Entry, now: SystemTime) -> String {
    match entry.expires_at {
        None => "never expires".into(),
        Some(t) if now < t => format!("in {}", short(t.duration_since(now).unwrap_or_default())),
        Some(t) => format!("stale since {}", short(now.duration_since(t).unwrap_or_default())),
    }
}

async fn get(store: &Arc<dyn CacheStore>, ns: &str, key: &str, meta: bool, stale: bool) -> Outcome {
    let entry = if stale { store.get_stale(ns, key).await? } else { store.get(ns, key).await? };
    let Some(entry) = entry else {
        let hint = if stale { None } else { Some("add --stale to see a stale row") };
        return Err(Failure { code: 3, message: format!("no fresh row ({ns:?}, {key:?})"), hint });
    };
    if meta {
        let line = rows::line_of(ns, key, &entry).map_err(|e| Failure::new(1, e))?;
        let now = store.clock().now();
        eprintln!("stored: {}", ago(now, entry.stored_at));
        eprintln!("expiry: {}", expiry(&entry, now));
        eprintln!(
            "times (ms): stored {} expires {:?} stale_until {:?}",
            line.stored_at_ms, line.expires_at_ms, line.stale_until_ms
        );
        for (k, v) in &entry.headers {
            eprintln!("header: {k}: {v}");
        }
    }
    std::io::stdout()
        .write_all(&entry.payload)
        .and_then(|()| std::io::stdout().flush())
        .map_err(|e| Failure::new(1, format!("writing to stdout: {e}")))
}

fn parse_duration(what: &str, text: &str) -> Result<Duration, Failure> {
    humantime::parse_duration(text).map_err(|e| {
        Failure::new(5, format!("--{what} {text:?}: {e}")).hint("use 30s, 15m, 1h, 7d or 1h 30m")
    })
}

async fn set(
    store: &Arc<dyn CacheStore>,
    ns: &str,
    key: &str,
    ttl: &str,
    stale_for: Option<&str>,
    headers: &[String],
) -> Outcome {
    let mut options = SetOptions::new();
    options = options.ttl(if ttl == "never" {
        Ttl::Never
    } else {
        Ttl::For(parse_duration("ttl", ttl)?)
    });
    if let Some(s) = stale_for {
        options = options.stale_for(parse_duration("stale-for", s)?);
    }
    for h in headers {
        let (k, v) = h.split_once('=').ok_or_else(|| {
            Failure::new(5, format!("--header {h:?} is not K=V"))
                .hint("e.g. --header content-type=application/json")
        })?;
        options = options.header(k, v);
    }
    let mut payload = Vec::new();
    std::io::stdin()
        .read_to_end(&mut payload)
        .map_err(|e| Failure::new(1, format!("reading stdin: {e}")))?;
    store.set(ns, key, Bytes::from(payload), options).await?;
    Ok(())
}

async fn ls(store: &Arc<dyn CacheStore>, ns: Option<&str>, prefix: Option<&str>) -> Outcome {
    let now = store.clock().now();
    let mut out = std::io::stdout().lock();
    scan_pages(store, ns, |items| {
        for item in items {
            if prefix.is_some_and(|p| !item.key.starts_with(p)) {
                continue;
            }
            writeln!(
                out,
                "{}\t{}\t{} B\t{}",
                item.namespace,
                item.key,
                item.entry.payload.len(),
                expiry(&item.entry, now)
            )
            .map_err(|e| Failure::new(1, format!("writing to stdout: {e}")))?;
        }
        Ok(())
    })
    .await
}

async fn purge(store: &Arc<dyn CacheStore>, clock: &ManualClock, dry_run: bool) -> Outcome {
    if dry_run {
        // Dead rows are invisible to reads. Seen from the far past every
        // row is live, so scan from there and count the rows that are dead
        // now; nothing is written.
        let now = clock.now();
        let far_past =
            cachestore_core::raw::from_unix_millis(-(1 << 60)).unwrap_or(std::time::UNIX_EPOCH);
        clock.set(far_past);
        let mut dead = 0u64;
        let counted = scan_pages(store, None, |items| {
            dead += items.iter().filter(|i| i.entry.stale_until.is_some_and(|s| s <= now)).count()
                as u64;
            Ok(())
        })
        .await;
        clock.set(now);
        counted?;
        println!("dry run: {dead} dead rows would be purged");
        return Ok(());
    }
    let bar = progress(None, "purging");
    let n = store.purge_expired().await?;
    bar.finish_and_clear();
    println!("purged {n} dead rows");
    Ok(())
}

async fn clear(store: &Arc<dyn CacheStore>, ns: Option<&str>, all: bool, yes: bool) -> Outcome {
    let what = match (ns, all) {
        (Some(ns), _) => format!("every row of namespace {ns:?}"),
        (None, _) => "every row of every namespace".to_owned(),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::new(4, format!("refusing to clear {what} without confirmation"))
                .hint("pass --yes"));
        }
        eprint!("clear {what}? [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::new(4, "not cleared"));
        }
    }
    let n = match ns {
        Some(ns) => store.clear_namespace(ns).await?,
        None => store.clear_all().await?,
    };
    println!("cleared {n} rows");
    Ok(())
}

/// Creates (or truncates) `path` for writing, mode 0600 on Unix whatever the
/// umask: exports and migration state hold the cache's rows and store URLs.
fn create_private(path: &Path) -> Result<std::fs::File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .map_err(|e| Failure::new(1, format!("creating {}: {e}", path.display())))?;
    // An existing file keeps its mode through open: make it private too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Failure::new(1, format!("making {} private: {e}", path.display())))?;
    }
    Ok(file)
}

async fn export(store: &Arc<dyn CacheStore>, file: Option<&Path>) -> Outcome {
    let mut out: Box<dyn Write> = match file {
        Some(path) => Box::new(std::io::BufWriter::new(create_private(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = progress(None, "exporting");
    scan_pages(store, None, |items| {
        for item in &items {
            let line = Line::from_item(item).map_err(|e| Failure::new(1, e))?;
            let text = serde_json::to_string(&line).map_err(|e| Failure::new(1, e.to_string()))?;
            writeln!(out, "{text}")
                .map_err(|e| Failure::new(1, format!("writing the export: {e}")))?;
        }
        bar.inc(items.len() as u64);
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    out.flush().map_err(|e| Failure::new(1, format!("writing the export: {e}")))
}

async fn import(url: &str, file: &Path) -> Outcome {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::new(1, format!("reading {}: {e}", file.display())))?;
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match Line::parse(raw) {
            Ok(line) => lines.push((i + 1, line)),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    let refuse = |bad: Vec<String>| {
        for b in &bad {
            eprintln!("{}: {b}", file.display());
        }
        Failure::new(
            5,
            format!("{} bad line(s) in {}; nothing was imported", bad.len(), file.display()),
        )
    };
    if !bad.is_empty() {
        return Err(refuse(bad));
    }
    let clock = ManualClock::new();
    let store = open(url, Arc::new(clock.clone()))?;
    // Every row must be one the store accepts before the first is written:
    // a payload over its limit on the last line writes nothing.
    let refused = rows::refused_by(store.as_ref(), &lines);
    if !refused.is_empty() {
        return Err(refuse(refused));
    }
    let lines: Vec<Line> = lines.into_iter().map(|(_, line)| line).collect();
    let bar = progress(Some(lines.len() as u64), "importing");
    write_rows(&store, &clock, &lines).await.map_err(|e| Failure::new(1, e))?;
    bar.finish_and_clear();
    println!("imported {} rows", lines.len());
    Ok(())
}

/// Where a migration stands: the source, the destination (both without their
/// passwords or tokens), and the last row copied.
#[derive(Serialize, Deserialize)]
struct MigrateState {
    from: String,
    to: String,
    after_namespace: String,
    after_key: String,
    copied: u64,
}

async fn migrate(
    from: &str,
    to: &str,
    state_file: Option<PathBuf>,
    max_pages: Option<u64>,
) -> Outcome {
    let state_file = state_file.unwrap_or_else(|| PathBuf::from("cachestore-migrate.state"));
    let mut cursor = None;
    let mut copied = 0;
    if let Ok(text) = std::fs::read_to_string(&state_file) {
        let state: MigrateState = serde_json::from_str(&text).map_err(|e| {
            Failure::new(5, format!("{}: not a migration state file: {e}", state_file.display()))
        })?;
        // The file keeps the URLs without their secrets (see below).
        let (from_shown, to_shown) = (redact_url(from), redact_url(to));
        if state.from != from_shown || state.to != to_shown {
            return Err(Failure::new(
                5,
                format!(
                    "{} belongs to a migration from {} to {}",
                    state_file.display(),
                    state.from,
                    state.to
                ),
            )
            .hint("pass another --state file, or delete this one"));
        }
        eprintln!("resuming after {} rows", state.copied);
        cursor = Some(ScanCursor { namespace: state.after_namespace, key: state.after_key });
        copied = state.copied;
    }
    let source = open(from, Arc::new(SystemClock))?;
    let clock = ManualClock::new();
    let dest = open(to, Arc::new(clock.clone()))?;
    let bar = progress(None, "migrating");
    let mut pages = 0;
    loop {
        let page = source.scan(None, cursor.as_ref(), 500).await?;
        let lines = page
            .items
            .iter()
            .map(Line::from_item)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::new(1, e))?;
        write_rows(&dest, &clock, &lines).await.map_err(|e| Failure::new(1, e))?;
        copied += lines.len() as u64;
        bar.inc(lines.len() as u64);
        let Some(next) = page.next else { break };
        let state = MigrateState {
            from: redact_url(from),
            to: redact_url(to),
            after_namespace: next.namespace.clone(),
            after_key: next.key.clone(),
            copied,
        };
        let text = serde_json::to_string(&state).map_err(|e| Failure::new(1, e.to_string()))?;
        create_private(&state_file)?
            .write_all(text.as_bytes())
            .map_err(|e| Failure::new(1, format!("writing {}: {e}", state_file.display())))?;
        cursor = Some(next);
        pages += 1;
        if max_pages.is_some_and(|m| pages >= m) {
            println!("stopped after {copied} rows; run the same command again to resume");
            return Ok(());
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&state_file);
    println!("migrated {copied} rows");
    Ok(())
}

/// Times `ops` calls of `f`; returns the median per call and ops/s.
async fn measure<F, Fut>(ops: u64, mut f: F) -> Result<(Duration, f64), Failure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = cachestore::Result<()>>,
{
    let mut times = Vec::with_capacity(ops as usize);
    let started = Instant::now();
    for i in 0..ops {
        let t = Instant::now();
        f(i).await?;
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    Ok((median, ops as f64 / total.as_secs_f64().max(1e-9)))
}

async fn bench(store: &Arc<dyn CacheStore>, ops: u64) -> Outcome {
    let ops = ops.max(10);
    let ns = format!("cachestore-bench-{}", std::process::id());
    let payload = Bytes::from(vec![0x5a; 1024]);
    let options = SetOptions::for_duration(Duration::from_secs(3600));
    let bar = progress(Some(5), "benchmarking");
    let mut report = Vec::new();
    let (s, o) = (Arc::clone(store), options.clone());
    report.push((
        "set",
        measure(ops, |i| {
            let (s, p, o, ns) = (Arc::clone(&s), payload.clone(), o.clone(), ns.clone());
            async move { s.set(&ns, &format!("k{i}"), p, o).await }
        })
        .await?,
    ));
    bar.inc(1);
    report.push((
        "get hit",
        measure(ops, |i| {
            let (s, ns) = (Arc::clone(store), ns.clone());
            async move { s.get(&ns, &format!("k{i}")).await.map(drop) }
        })
        .await?,
    ));
    bar.inc(1);
    report.push((
        "get miss",
        measure(ops, |i| {
            let (s, ns) = (Arc::clone(store), ns.clone());
            async move { s.get(&ns, &format!("missing{i}")).await.map(drop) }
        })
        .await?,
    ));
    bar.inc(1);
    let batches = (ops / 100).max(1);
    let (median, per_sec) = measure(batches, |b| {
        let (s, p, o, ns) = (Arc::clone(store), payload.clone(), options.clone(), ns.clone());
        async move {
            s.set_many(
                (0..100)
                    .map(|i| SetItem::new(ns.as_str(), format!("m{b}-{i}"), p.clone(), o.clone()))
                    .collect(),
            )
            .await
        }
    })
    .await?;
    report.push(("set_many x100", (median, per_sec * 100.0)));
    bar.inc(1);
    let (median, _) = measure(1, |_| {
        let s = Arc::clone(store);
        async move { s.purge_expired().await.map(drop) }
    })
    .await?;
    report.push(("purge", (median, f64::NAN)));
    bar.finish_and_clear();
    store.clear_namespace(&ns).await?;
    println!("{:<16} {:>12} {:>14}", "operation", "median", "ops/s");
    for (name, (median, per_sec)) in report {
        let rate = if per_sec.is_nan() { "-".to_owned() } else { format!("{per_sec:.0}") };
        println!("{name:<16} {:>10.1}µs {rate:>14}", median.as_secs_f64() * 1e6);
    }
    Ok(())
}
