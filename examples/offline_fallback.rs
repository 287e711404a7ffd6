//! Offline fallback for a PostgreSQL-backed service, as its cache layer
//! does it: rows fresh for 30 minutes and kept a week; when the database is
//! down, lookups are answered from stale rows (marked stale, with their
//! age); a health line from `stats()` alone (total, stale, dead, oldest
//! entry's age, size on disk: no scan); stale rows cleared with a count
//! once the database is back. Lookup and cleanup times are printed.
//!
//! Run: `cargo run --example offline_fallback --features sqlite`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachestore::{Cache, CacheStore, FetchPolicy, ManualClock, SqliteStore};
use serde::{Deserialize, Serialize};

const ROWS: usize = 50;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Account {
    id: usize,
    plan: String,
}

/// The primary database, as the service sees it: up or down, and how many
/// queries reached it.
#[derive(Default)]
struct Database {
    down: AtomicBool,
    queries: AtomicUsize,
}

impl Database {
    async fn account(&self, id: usize) -> Result<Account, String> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused (127.0.0.1:5432)".into());
        }
        Ok(Account { id, plan: if id.is_multiple_of(5) { "pro".into() } else { "free".into() } })
    }
}

async fn lookup(
    cache: &Cache,
    db: &Database,
    id: usize,
) -> Result<cachestore::Cached<Account>, String> {
    let policy =
        FetchPolicy::new(Duration::from_secs(30 * 60)).stale_for(Duration::from_secs(7 * 86_400));
    cache
        .get_or_fetch_borrowed("accounts", &id.to_string(), &policy, |_| async move {
            db.account(id).await.map(cachestore::Fetched::value)
        })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachestore-offline-{}", std::process::id()));
    let clock = ManualClock::new();
    let store: Arc<dyn CacheStore> =
        Arc::new(SqliteStore::builder(dir.join("offline.sqlite")).clock(clock.clone()).open()?);
    let cache = Cache::new(Arc::clone(&store));
    let db = Database::default();

    // Online: 50 accounts cached, a minute apart.
    for id in 0..ROWS {
        lookup(&cache, &db, id).await?;
        clock.advance(Duration::from_secs(60));
    }
    assert_eq!(db.queries.load(Ordering::SeqCst), ROWS);

    // The database goes down for two hours: every lookup is answered stale.
    db.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2 * 3600));
    let started = Instant::now();
    for id in 0..ROWS {
        let got = lookup(&cache, &db, id).await?;
        let is_stale = !got.fresh;
        assert!(is_stale && got.value.id == id, "account {id} was not served stale");
        assert!(got.age >= Duration::from_secs(2 * 3600));
    }
    let per_lookup = started.elapsed() / ROWS as u32;
    let c = cache.counters("accounts");
    println!(
        "database down: {} lookups served stale ({per_lookup:?} each, database tried every time)",
        c.stale_served
    );
    assert_eq!(c.stale_served, ROWS as u64);

    // Health, from stats() alone.
    let stats = store.stats().await?;
    let now = store.clock().now();
    let oldest = stats.oldest.and_then(|t| now.duration_since(t).ok()).ok_or("no oldest row")?;
    println!(
        "health: {} rows, {} stale, {} dead, oldest {} min old, {} bytes on disk",
        stats.fresh + stats.stale,
        stats.stale,
        stats.dead,
        oldest.as_secs() / 60,
        stats.disk_bytes.unwrap_or(0)
    );
    assert_eq!((stats.fresh + stats.stale, stats.stale, stats.dead), (ROWS as u64, ROWS as u64, 0));
    assert_eq!(
        oldest,
        Duration::from_secs((ROWS as u64) * 60 + 2 * 3600),
        "the oldest entry's age"
    );
    assert!(stats.disk_bytes.is_some_and(|b| b > 0));

    // Back up: refresh one account, then clear the stale rest, with a count.
    db.down.store(false, Ordering::SeqCst);
    assert!(lookup(&cache, &db, 0).await?.fresh);
    let started = Instant::now();
    let mut cleared = 0;
    let mut cursor = None;
    loop {
        let page = store.scan(Some("accounts"), cursor.as_ref(), 100).await?;
        for item in &page.items {
            if !item.entry.is_fresh(now) && store.delete("accounts", &item.key).await? {
                cleared += 1;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    println!("database back: cleared {cleared} stale rows in {:?}", started.elapsed());
    assert_eq!(cleared, ROWS - 1);
    let stats = store.stats().await?;
    assert_eq!((stats.fresh, stats.stale), (1, 0));
    drop((store, cache));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
