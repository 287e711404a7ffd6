//! A stream-URL resolver cache shared by 4 worker processes through one
//! SQLite file, as a resolver service keeps one:
//!
//! - entries keyed by the 6 parts of a stream (site, slug, season, episode,
//!   language, provider), holding the resolved URL, the response headers,
//!   when it was resolved and the last status;
//! - each cold stream resolved once across all 4 workers (the fetch lease),
//!   a failure remembered for a minute (negative caching);
//! - a `fail_count` per stream that every worker bumps when a player reports
//!   the link broken, kept exact under 4 concurrent workers by
//!   read-modify-write with `set_if`; at 3 failures the entry is invalidated;
//! - a re-resolution that lands on another host replaces the cached entry.
//!
//! Run: `cargo run --example stream_resolver --features sqlite`
//! (it starts its own workers: `stream_resolver worker N DIR`)

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachestore::{
    Bytes, Cache, CacheStore, Condition, FetchError, FetchPolicy, Fetched, SetOptions, SqliteStore,
    signature,
};
use serde::{Deserialize, Serialize};

const WORKERS: u32 = 4;
const EPISODES: u32 = 12;
/// Episode 5's link plays for nobody: every worker's player reports it.
const BROKEN: u32 = 5;
const REPORTS_PER_WORKER: u64 = 25;
/// Episode 7's upstream is down: its failure is remembered, not retried.
const DOWN: u32 = 7;

#[derive(Serialize)]
struct StreamId<'a> {
    site: &'a str,
    slug: &'a str,
    season: u32,
    episode: u32,
    language: &'a str,
    provider: &'a str,
}

fn key(episode: u32) -> cachestore::Result<String> {
    signature(&StreamId {
        site: "example.tv",
        slug: "the-show",
        season: 1,
        episode,
        language: "en",
        provider: "cdn",
    })
}

/// A cached resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Resolved {
    url: String,
    headers: BTreeMap<String, String>,
    resolved_at_ms: u64,
    last_status: u16,
}

impl Resolved {
    fn host(&self) -> &str {
        self.url.split('/').nth(2).unwrap_or_default()
    }
}

/// The upstream resolver: every call is logged (one line each) so the run
/// can count them; `host` is where the streams live now.
fn resolve(dir: &Path, episode: u32, host: &str) -> Result<Resolved, String> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("resolves.log"))
        .map_err(|e| e.to_string())?;
    writeln!(log, "episode {episode}").map_err(|e| e.to_string())?;
    // A resolver takes a while: every worker arrives while it runs.
    std::thread::sleep(Duration::from_millis(150));
    if episode == DOWN {
        return Err("503 upstream unavailable".into());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Ok(Resolved {
        url: format!("https://{host}/the-show/s1e{episode}.m3u8"),
        headers: [("referer".to_owned(), "https://example.tv/".to_owned())].into(),
        resolved_at_ms: now,
        last_status: 200,
    })
}

/// A resolution as the cache stores it, with the playlist's content type.
fn fetched(value: Resolved) -> Fetched<Resolved> {
    Fetched::value(value).header("content-type", "application/vnd.apple.mpegurl")
}

fn open(dir: &Path) -> cachestore::Result<(Arc<dyn CacheStore>, Cache)> {
    let store: Arc<dyn CacheStore> = Arc::new(SqliteStore::open(dir.join("streams.sqlite"))?);
    Ok((Arc::clone(&store), Cache::new(store)))
}

fn policy() -> FetchPolicy {
    FetchPolicy::new(Duration::from_secs(6 * 3600)).negative_ttl(Duration::from_secs(60))
}

/// Adds one to a counter row: read, `set_if(IfVersion)`, again if another
/// worker wrote in between. Returns the new count.
async fn increment(store: &dyn CacheStore, ns: &str, key: &str) -> cachestore::Result<u64> {
    loop {
        let row = store.get(ns, key).await?;
        let (count, condition) = match &row {
            Some(e) => {
                let n = std::str::from_utf8(&e.payload).ok().and_then(|s| s.parse().ok());
                (n.unwrap_or(0u64), Condition::IfVersion(e.version))
            }
            None => (0, Condition::IfAbsent),
        };
        let next = Bytes::from((count + 1).to_string());
        if store.set_if(ns, key, next, SetOptions::new(), condition).await?.is_written() {
            return Ok(count + 1);
        }
    }
}

/// A counter row's value.
async fn count(
    store: &dyn CacheStore,
    ns: &str,
    key: &str,
) -> Result<u64, Box<dyn std::error::Error>> {
    match store.get(ns, key).await? {
        Some(row) => Ok(std::str::from_utf8(&row.payload)?.parse()?),
        None => Ok(0),
    }
}

async fn worker(id: u32, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (store, cache) = open(dir)?;
    // Every worker asks for every episode at once, as its users do.
    let mut lookups = Vec::new();
    for episode in 1..=EPISODES {
        let (cache, dir) = (cache.clone(), dir.to_owned());
        lookups.push(tokio::spawn(async move {
            let key = key(episode)?;
            let got = cache
                .get_or_fetch_with("streams", &key, &policy(), move |_| async move {
                    tokio::task::spawn_blocking(move || resolve(&dir, episode, "cdn-a.example"))
                        .await
                        .map_err(|e| e.to_string())?
                        .map(fetched)
                })
                .await;
            Ok::<_, cachestore::Error>((episode, got.map(|c| c.value)))
        }));
    }
    let mut resolved = 0;
    for lookup in lookups {
        match lookup.await?? {
            (_, Ok(_)) => resolved += 1,
            (DOWN, Err(FetchError::Fetch(_) | FetchError::Cached { .. })) => {}
            (episode, Err(e)) => return Err(format!("episode {episode}: {e}").into()),
        }
    }
    // Every worker has looked everything up (a counter row is the barrier)
    // before the players' reports start.
    increment(store.as_ref(), "run", "looked_up").await?;
    let waiting = std::time::Instant::now();
    while count(store.as_ref(), "run", "looked_up").await? < u64::from(WORKERS) {
        if waiting.elapsed() > Duration::from_secs(30) {
            return Err("the other workers never checked in: was an increment lost?".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Players report episode 5 broken; at 3 reports the entry goes.
    let broken = key(BROKEN)?;
    let mut invalidated = false;
    for _ in 0..REPORTS_PER_WORKER {
        if increment(store.as_ref(), "fail_count", &broken).await? == 3 {
            invalidated = store.delete("streams", &broken).await?;
        }
    }
    println!(
        "worker {id}: {resolved} of {EPISODES} resolved; invalidated the broken link: {invalidated}"
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let id: u32 = args.get(2).ok_or("worker id")?.parse()?;
        return worker(id, &PathBuf::from(args.get(3).ok_or("dir")?)).await;
    }
    let dir = std::env::temp_dir().join(format!("cachestore-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    drop(open(&dir)?);
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..WORKERS)
        .map(|id| {
            Command::new(&exe).args(["worker", &id.to_string(), &dir.display().to_string()]).spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        if !child.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let (store, cache) = open(&dir)?;

    // Each cold stream was resolved once across the 4 workers.
    let log = std::fs::read_to_string(dir.join("resolves.log"))?;
    let mut calls = BTreeMap::<String, u32>::new();
    for line in log.lines() {
        *calls.entry(line.to_owned()).or_default() += 1;
    }
    println!("upstream calls: {} for {EPISODES} streams × {WORKERS} workers", log.lines().count());
    assert_eq!(calls.len(), EPISODES as usize);
    assert!(calls.values().all(|n| *n == 1), "a stream was resolved more than once: {calls:?}");

    // The fail count is exact: no report lost between the workers.
    let count = count(store.as_ref(), "fail_count", &key(BROKEN)?).await?;
    println!("fail_count of episode {BROKEN}: {count}");
    assert_eq!(count, u64::from(WORKERS) * REPORTS_PER_WORKER, "failure reports were lost");
    assert!(
        store.get("streams", &key(BROKEN)?).await?.is_none(),
        "the broken link is still cached"
    );

    // A cached entry, with every field.
    let three = cache.get_fresh::<Resolved>("streams", &key(3)?).await?.ok_or("episode 3")?;
    assert_eq!((three.value.host(), three.value.last_status), ("cdn-a.example", 200));
    assert_eq!(three.headers["content-type"], "application/vnd.apple.mpegurl");
    assert!(three.value.resolved_at_ms > 0 && three.value.headers.contains_key("referer"));

    // The streams moved to another host: the scheduled re-resolution lands
    // elsewhere, and the entry cached on the old host is replaced.
    let again = resolve(&dir, 3, "cdn-b.example")?;
    let cached = cache.get_fresh::<Resolved>("streams", &key(3)?).await?;
    let mut replaced = false;
    if cached.as_ref().is_some_and(|c| c.value.host() != again.host()) {
        replaced = store.delete("streams", &key(3)?).await?;
        let options = SetOptions::for_duration(Duration::from_secs(6 * 3600))
            .header("content-type", "application/vnd.apple.mpegurl");
        cache.set("streams", &key(3)?, &again, options).await?;
    }
    let three = cache.get::<Resolved>("streams", &key(3)?).await?.ok_or("episode 3 again")?;
    println!(
        "episode 3 moved to {}; the old entry was cached and replaced: {replaced}",
        three.host()
    );
    assert!(replaced, "the entry on the old host was not there to replace");
    assert_eq!(three.host(), "cdn-b.example");

    let stats = store.stats().await?;
    println!("{WORKERS} workers shared {}: {} live rows", dir.display(), stats.fresh);
    drop((store, cache));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
