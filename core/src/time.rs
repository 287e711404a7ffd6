//! Clocks, TTLs and the millisecond time form every backend stores.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The source of `now` for every expiry decision a store makes.
///
/// Stores never read the OS clock directly: they ask their `Clock`, so tests
/// can move time with a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// A clock shared by a store and its handles.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock. The default for every store.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to: for tests.
///
/// Clones share one time, so a test keeps one clone and hands another to the
/// store. It may be moved backwards (see [`ManualClock::rewind`]).
///
/// ```
/// use std::time::Duration;
/// use cachestore_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let store_side = clock.clone();
/// let before = store_side.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(store_side.now(), before + Duration::from_secs(90));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// The time a [`ManualClock::new`] starts at: 2026-01-01T00:00:00Z, a whole
    /// millisecond, so runs are reproducible.
    pub const DEFAULT_START: Duration = Duration::from_secs(1_767_225_600);

    /// A clock at [`ManualClock::DEFAULT_START`].
    pub fn new() -> Self {
        Self::starting_at(UNIX_EPOCH + Self::DEFAULT_START)
    }

    /// A clock at `start`.
    pub fn starting_at(start: SystemTime) -> Self {
        ManualClock { now: Arc::new(Mutex::new(start)) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut SystemTime) -> R) -> R {
        // A panic while holding this lock cannot leave a half-written
        // SystemTime behind, so a poisoned lock is still sound to use.
        let mut guard = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Sets the time, forwards or backwards.
    pub fn set(&self, to: SystemTime) {
        self.with(|now| *now = to);
    }

    /// Moves the time forwards by `by` (saturating at the largest representable time).
    pub fn advance(&self, by: Duration) {
        self.with(|now| *now = now.checked_add(by).unwrap_or(*now));
    }

    /// Moves the time backwards by `by`, as a wall clock may after an NTP step.
    pub fn rewind(&self, by: Duration) {
        self.with(|now| *now = now.checked_sub(by).unwrap_or(*now));
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.with(|now| *now)
    }
}

/// How long a row stays fresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ttl {
    /// The row never expires.
    #[default]
    Never,
    /// Fresh for this long after it is written. `For(Duration::ZERO)` stores a
    /// row that is already expired.
    For(Duration),
    /// Fresh until this moment. A moment in the past stores a row that is
    /// already expired.
    Until(SystemTime),
}

/// Where a row is in its life at a given `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `expires_at` is `None` or `now < expires_at`: [`get`](crate::CacheStore::get) returns it.
    Fresh,
    /// `expires_at <= now < stale_until`: only [`get_stale`](crate::CacheStore::get_stale) returns it.
    Stale,
    /// `stale_until <= now`: invisible to every read; removed by `purge_expired`.
    Dead,
}

impl Phase {
    /// `true` for [`Phase::Fresh`] and [`Phase::Stale`]: rows a read may still return.
    pub fn is_live(self) -> bool {
        !matches!(self, Phase::Dead)
    }
}

/// Milliseconds since the Unix epoch: the time form every backend stores.
///
/// Negative values are before 1970. Conversion from [`SystemTime`] rounds
/// down (floor) to a whole millisecond, which for every time after 1970 is
/// plain truncation.
pub type UnixMillis = i64;

/// Converts a time to whole milliseconds since the epoch, rounding down.
///
/// Times that do not fit an `i64` of milliseconds are [`Error::InvalidTtl`].
pub fn to_unix_millis(t: SystemTime) -> Result<UnixMillis> {
    const OVERFLOW: Error = Error::InvalidTtl { reason: "time is out of the representable range" };
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).map_err(|_| OVERFLOW)?,
        Err(before) => {
            let before = before.duration();
            // floor: -0.5 ms is -1 ms.
            let whole = i64::try_from(before.as_millis()).map_err(|_| OVERFLOW)?;
            let partial = before.subsec_nanos() % 1_000_000 != 0;
            whole.checked_neg().and_then(|w| w.checked_sub(i64::from(partial))).ok_or(OVERFLOW)?
        }
    };
    // Keep only times that convert back: a stored time must always be readable.
    match from_unix_millis(ms) {
        Some(_) => Ok(ms),
        None => Err(OVERFLOW),
    }
}

/// Converts milliseconds since the epoch back to a time, or `None` where the
/// platform's `SystemTime` cannot hold it (a value a decoder should treat as corrupt).
pub fn from_unix_millis(ms: UnixMillis) -> Option<SystemTime> {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
}

/// The three times of a row, in milliseconds: what a backend stores.
///
/// Built by [`RowTimes::resolve`] from the store clock's `now`, a [`Ttl`] and a
/// stale window; [`RowTimes::phase`] judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowTimes {
    /// When the row was written.
    pub stored_at: UnixMillis,
    /// End of freshness; `None`: never expires.
    pub expires_at: Option<UnixMillis>,
    /// End of retention, `>= expires_at`; `None` only when `expires_at` is `None`.
    pub stale_until: Option<UnixMillis>,
}

impl RowTimes {
    /// Computes a row's times for a write at `now`.
    ///
    /// `expires_at = now + ttl` (or the `Until` time) and
    /// `stale_until = expires_at + stale_for`, each computed at full precision
    /// and then rounded down to a millisecond. Any overflow is
    /// [`Error::InvalidTtl`].
    pub fn resolve(now: SystemTime, ttl: Ttl, stale_for: Duration) -> Result<RowTimes> {
        let stored_at = to_unix_millis(now)?;
        let expires = match ttl {
            Ttl::Never => None,
            Ttl::For(d) => Some(
                now.checked_add(d).ok_or(Error::InvalidTtl { reason: "now + ttl overflows" })?,
            ),
            Ttl::Until(t) => Some(t),
        };
        let Some(expires) = expires else {
            return Ok(RowTimes { stored_at, expires_at: None, stale_until: None });
        };
        let stale = expires
            .checked_add(stale_for)
            .ok_or(Error::InvalidTtl { reason: "expires_at + stale_for overflows" })?;
        Ok(RowTimes {
            stored_at,
            expires_at: Some(to_unix_millis(expires)?),
            stale_until: Some(to_unix_millis(stale)?),
        })
    }

    /// The row's phase at `now` (milliseconds since the epoch).
    ///
    /// A row whose `stale_until` is missing although it expires is judged as if
    /// `stale_until == expires_at`.
    pub fn phase(&self, now: UnixMillis) -> Phase {
        match self.expires_at {
            None => Phase::Fresh,
            Some(expires) if now < expires => Phase::Fresh,
            Some(expires) => {
                if now < self.stale_until.unwrap_or(expires).max(expires) {
                    Phase::Stale
                } else {
                    Phase::Dead
                }
            }
        }
    }

    /// Checks the invariants a decoded row must hold: every time converts to a
    /// `SystemTime`, `stale_until >= expires_at`, and `stale_until` is present
    /// exactly when `expires_at` is. Returns what is wrong, for an
    /// [`Error::Corrupt`] detail.
    pub fn check(&self) -> std::result::Result<(), &'static str> {
        let convertible = |t: Option<UnixMillis>| t.is_none_or(|t| from_unix_millis(t).is_some());
        if !convertible(Some(self.stored_at))
            || !convertible(self.expires_at)
            || !convertible(self.stale_until)
        {
            return Err("a time is out of the representable range");
        }
        match (self.expires_at, self.stale_until) {
            (None, None) => Ok(()),
            (Some(e), Some(s)) if s >= e => Ok(()),
            (Some(_), Some(_)) => Err("stale_until is before expires_at"),
            _ => Err("stale_until must be set exactly when expires_at is"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> SystemTime {
        from_unix_millis(ms).unwrap()
    }

    #[test]
    fn millis_round_down_on_both_sides_of_the_epoch() {
        assert_eq!(to_unix_millis(UNIX_EPOCH + Duration::from_micros(1_999)).unwrap(), 1);
        assert_eq!(to_unix_millis(UNIX_EPOCH - Duration::from_micros(500)).unwrap(), -1);
        assert_eq!(to_unix_millis(UNIX_EPOCH - Duration::from_millis(2)).unwrap(), -2);
        assert_eq!(from_unix_millis(-2).unwrap(), UNIX_EPOCH - Duration::from_millis(2));
    }

    #[test]
    fn overflow_is_invalid_ttl_not_a_panic() {
        let now = at(1_000);
        assert!(matches!(
            RowTimes::resolve(now, Ttl::For(Duration::MAX), Duration::ZERO),
            Err(Error::InvalidTtl { .. })
        ));
        assert!(matches!(
            RowTimes::resolve(now, Ttl::For(Duration::from_secs(1)), Duration::MAX),
            Err(Error::InvalidTtl { .. })
        ));
        let far = UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 1000 + 1);
        assert!(matches!(
            RowTimes::resolve(now, Ttl::Until(far), Duration::ZERO),
            Err(Error::InvalidTtl { .. })
        ));
    }

    #[test]
    fn resolve_and_phase_boundaries() {
        let t = RowTimes::resolve(
            at(10_000),
            Ttl::For(Duration::from_millis(100)),
            Duration::from_millis(50),
        )
        .unwrap();
        assert_eq!(
            t,
            RowTimes { stored_at: 10_000, expires_at: Some(10_100), stale_until: Some(10_150) }
        );
        assert_eq!(t.phase(10_099), Phase::Fresh);
        assert_eq!(t.phase(10_100), Phase::Stale);
        assert_eq!(t.phase(10_149), Phase::Stale);
        assert_eq!(t.phase(10_150), Phase::Dead);
        assert_eq!(t.phase(0), Phase::Fresh, "an earlier now makes it fresh again");
        let never = RowTimes::resolve(at(1), Ttl::Never, Duration::from_secs(5)).unwrap();
        assert_eq!(never.stale_until, None);
        assert_eq!(never.phase(i64::MAX), Phase::Fresh);
        assert!(never.check().is_ok() && t.check().is_ok());
        let bad = RowTimes { stored_at: 0, expires_at: Some(5), stale_until: Some(4) };
        assert!(bad.check().is_err());
    }

    #[test]
    fn manual_clock_is_shared_between_clones_and_can_go_back() {
        let a = ManualClock::new();
        let b = a.clone();
        let start = a.now();
        a.advance(Duration::from_millis(5));
        b.rewind(Duration::from_millis(7));
        assert_eq!(a.now(), start - Duration::from_millis(2));
        a.set(UNIX_EPOCH);
        assert_eq!(b.now(), UNIX_EPOCH);
    }
}
