//! What commands share: failures and their exit codes, progress bars,
//! paging through a store, times and durations for people, private files.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cachestore::{CacheStore, ScanCursor, SharedClock};
use indicatif::{ProgressBar, ProgressStyle};

/// A failure with its exit code and a hint.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) hint: Option<&'static str>,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), hint: None }
    }
    pub(crate) fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    /// A failed write of the command's output (`what`: "stdout", "the
    /// export"). A reader that stopped reading (`| head`) is a normal end, as
    /// for every Unix tool: exit 0 and nothing printed.
    pub(crate) fn output(what: &str, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure { code: 0, message: String::new(), hint: None };
        }
        Failure::new(1, format!("writing {what}: {e}"))
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

/// What a command returns.
pub(crate) type Outcome = Result<(), Failure>;

/// A progress bar on a terminal, hidden in pipes.
pub(crate) fn progress(len: Option<u64>, what: &'static str) -> ProgressBar {
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
pub(crate) async fn scan_pages(
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

/// A size for people: bytes under 1 KiB, else KiB, MiB or GiB with three
/// significant digits ("512 B", "1.50 KiB", "97.7 MiB").
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {}", UNITS[unit])
}

/// A moment for people: UTC to the second ("2026-11-23T15:04:05Z").
pub(crate) fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A measured duration for people: three significant digits in the unit
/// that fits ("812 ns", "4.27 µs", "172 ms", "1.50 s").
pub(crate) fn duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let (value, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    let decimals = match value {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    format!("{value:.decimals$} {unit}")
}

/// "3h 12m", at most two units.
pub(crate) fn short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub(crate) fn ago(now: SystemTime, then: SystemTime) -> String {
    format!("{} ago", short(now.duration_since(then).unwrap_or_default()))
}

/// Expiry for people: "in 3h 12m", "stale since 2d 1h", "never expires".
pub(crate) fn expiry(entry: &cachestore::Entry, now: SystemTime) -> String {
    match entry.expires_at {
        None => "never expires".into(),
        Some(t) if now < t => format!("in {}", short(t.duration_since(now).unwrap_or_default())),
        Some(t) => format!("stale since {}", short(now.duration_since(t).unwrap_or_default())),
    }
}

pub(crate) fn parse_duration(what: &str, text: &str) -> Result<Duration, Failure> {
    humantime::parse_duration(text).map_err(|e| {
        Failure::new(5, format!("--{what} {text:?}: {e}")).hint("use 30s, 15m, 1h, 7d or 1h 30m")
    })
}

/// Creates (or truncates) `path` for writing, mode 0600 on Unix whatever the
/// umask: exports and migration state hold the cache's rows and store URLs.
pub(crate) fn create_private(path: &Path) -> Result<std::fs::File, Failure> {
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

/// Opens the store at `url` on `clock`.
pub(crate) fn open(url: &str, clock: SharedClock) -> Result<Arc<dyn CacheStore>, Failure> {
    Ok(cachestore::open_with_clock(url, clock)?)
}

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn sizes_are_scaled_to_three_significant_digits() {
        use super::size;
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(102_400_000), "97.7 MiB");
        assert_eq!(size(5 << 40), "5120 GiB");
    }

    #[test]
    fn durations_are_scaled_to_three_significant_digits() {
        assert_eq!(duration(Duration::from_nanos(812)), "812 ns");
        assert_eq!(duration(Duration::from_nanos(4_270)), "4.27 µs");
        assert_eq!(duration(Duration::from_micros(172_068)), "172 ms");
        assert_eq!(duration(Duration::from_millis(1_500)), "1.50 s");
        assert_eq!(duration(Duration::from_secs(42)), "42.0 s");
    }
}
