//! The pattern for an application's own unit tests (see the README, "Testing
//! your caching logic"): the application takes any `Arc<dyn CacheStore>`;
//! its tests hand it a `MemoryStore` on a `ManualClock` and move time
//! instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachestore::{Cache, CacheStore, FetchPolicy, ManualClock, MemoryStore};

/// The application code under test: a weather client that caches for 10
/// minutes and falls back to stale data for a day when the API fails.
struct Weather {
    cache: Cache,
    api_calls: Arc<AtomicU32>,
    api_up: Arc<std::sync::atomic::AtomicBool>,
}

impl Weather {
    fn new(store: Arc<dyn CacheStore>) -> Self {
        Weather {
            cache: Cache::new(store),
            api_calls: Arc::default(),
            api_up: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Returns the temperature and whether it is current.
    async fn temperature(&self, city: &str) -> Result<(i32, bool), String> {
        let policy =
            FetchPolicy::new(Duration::from_secs(600)).stale_for(Duration::from_secs(86_400));
        let (calls, up) = (Arc::clone(&self.api_calls), Arc::clone(&self.api_up));
        let got = self
            .cache
            .get_or_fetch("weather", city, &policy, move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if up.load(Ordering::SeqCst) { Ok(21) } else { Err("api down".to_owned()) }
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok((got.value, got.fresh))
    }
}

#[tokio::test]
async fn caches_for_ten_minutes_then_refetches() {
    let clock = ManualClock::new();
    let app = Weather::new(Arc::new(MemoryStore::with_clock(clock.clone())));
    assert_eq!(app.temperature("oslo").await, Ok((21, true)));
    clock.advance(Duration::from_secs(599));
    assert_eq!(app.temperature("oslo").await, Ok((21, true)));
    assert_eq!(app.api_calls.load(Ordering::SeqCst), 1, "refetched within 10 minutes");
    clock.advance(Duration::from_secs(1));
    assert_eq!(app.temperature("oslo").await, Ok((21, true)));
    assert_eq!(app.api_calls.load(Ordering::SeqCst), 2, "not refetched after 10 minutes");
}

#[tokio::test]
async fn serves_stale_data_for_a_day_when_the_api_is_down() {
    let clock = ManualClock::new();
    let app = Weather::new(Arc::new(MemoryStore::with_clock(clock.clone())));
    app.temperature("oslo").await.expect("first fetch");
    app.api_up.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(app.temperature("oslo").await, Ok((21, false)), "no stale fallback");
    clock.advance(Duration::from_secs(86_400));
    assert!(app.temperature("oslo").await.is_err(), "stale data served past its day");
}
