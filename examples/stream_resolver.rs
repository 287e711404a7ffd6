//! A stream-URL resolver cache shared by 4 worker processes through one
//! SQLite file. Entries are keyed by (site, slug, season, episode, language,
//! provider); an entry whose refresh fails is invalidated, so no worker keeps
//! handing out a dead link.
//!
//! Run: `cargo run --example stream_resolver --features sqlite`
//! (it starts its own workers: `stream_resolver worker N PATH`)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchError, FetchPolicy, SqliteStore, signature};
use serde::Serialize;

const WORKERS: u32 = 4;
const EPISODES: u32 = 12;

#[derive(Serialize)]
struct Episode<'a> {
    site: &'a str,
    slug: &'a str,
    season: u32,
    episode: u32,
    language: &'a str,
    provider: &'a str,
}

fn key(episode: u32) -> cachestore::Result<String> {
    signature(&Episode {
        site: "example.tv",
        slug: "the-show",
        season: 1,
        episode,
        language: "en",
        provider: "cdn-a",
    })
}

/// The simulated resolver: episode 7's link has gone dead upstream.
fn resolve(episode: u32) -> Result<String, String> {
    if episode == 7 {
        Err("410 gone".into())
    } else {
        Ok(format!("https://cdn-a.example/e{episode}.m3u8"))
    }
}

async fn worker(id: u32, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store: Arc<dyn CacheStore> = Arc::new(SqliteStore::open(path)?);
    let cache = Cache::new(Arc::clone(&store));
    let policy = FetchPolicy::new(Duration::from_secs(6 * 3600));
    let (mut resolved, mut invalidated) = (0, 0);
    // Every worker asks for every episode, in its own order.
    for i in 0..EPISODES {
        let episode = (i + id * 3) % EPISODES + 1;
        let key = key(episode)?;
        match cache
            .get_or_fetch("streams", &key, &policy, move || async move { resolve(episode) })
            .await
        {
            Ok(_) => resolved += 1,
            Err(FetchError::Fetch(_)) => {
                // The refresh failed: invalidate the entry.
                store.delete("streams", &key).await?;
                invalidated += 1;
            }
            Err(e) => return Err(e.to_string().into()),
        }
    }
    println!("worker {id}: {resolved} resolved, {invalidated} invalidated");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let id: u32 = args.get(2).ok_or("worker id")?.parse()?;
        let path = PathBuf::from(args.get(3).ok_or("path")?);
        return worker(id, &path).await;
    }
    let dir = std::env::temp_dir().join(format!("cachestore-streams-{}", std::process::id()));
    let path = dir.join("streams.sqlite");
    drop(SqliteStore::open(&path)?);
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..WORKERS)
        .map(|id| {
            Command::new(&exe)
                .args(["worker", &id.to_string(), &path.display().to_string()])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        if !child.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let store = SqliteStore::open(&path)?;
    let stats = store.stats().await?;
    println!("{WORKERS} workers shared {}: {} live entries", path.display(), stats.fresh);
    assert_eq!(stats.fresh, u64::from(EPISODES - 1), "every episode but the dead one is cached");
    assert!(store.get("streams", &key(7)?).await?.is_none(), "the dead link is still cached");
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
