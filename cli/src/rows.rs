//! The export line format, and writing rows with their original metadata:
//! import decodes each line into a [`Row`] once; migrate makes rows straight
//! from the source's scan, with no base64 or text in between.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cachestore::{
    Bytes, CacheStore, Headers, ManualClock, ScanItem, SetItem, SetOptions, Tags, Ttl,
};
use cachestore_core::raw::{from_unix_millis, to_unix_millis};
use serde::{Deserialize, Serialize};

/// One row as a JSON line: every field, the payload in base64, times in
/// milliseconds since the Unix epoch (`null`: never).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Line {
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) payload_base64: String,
    pub(crate) headers: Headers,
    pub(crate) stored_at_ms: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) stale_until_ms: Option<i64>,
    /// The row's tags (CONTRACT.md §9); left out when there are none, so
    /// lines written before tags still read.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub(crate) tags: Tags,
}

impl Line {
    pub(crate) fn from_item(item: &ScanItem) -> Result<Line, String> {
        let ms = |t: SystemTime| to_unix_millis(t).map_err(|e| e.to_string());
        Ok(Line {
            namespace: item.namespace.clone(),
            key: item.key.clone(),
            payload_base64: BASE64.encode(&item.entry.payload),
            headers: item.entry.headers.clone(),
            stored_at_ms: ms(item.entry.stored_at)?,
            expires_at_ms: item.entry.expires_at.map(ms).transpose()?,
            stale_until_ms: item.entry.stale_until.map(ms).transpose()?,
            tags: item.entry.tags.clone(),
        })
    }

    /// Parses and checks one line into the row it holds; `Err` says what is
    /// wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Row, String> {
        let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
        cachestore::check_identity(&line.namespace, &line.key).map_err(|e| e.to_string())?;
        let payload =
            BASE64.decode(&line.payload_base64).map_err(|e| format!("payload_base64: {e}"))?;
        let times = cachestore_core::raw::RowTimes {
            stored_at: line.stored_at_ms,
            expires_at: line.expires_at_ms,
            stale_until: line.stale_until_ms,
        };
        times.check().map_err(str::to_owned)?;
        cachestore::check_tags(&line.tags).map_err(|e| e.to_string())?;
        Ok(Row {
            namespace: line.namespace,
            key: line.key,
            payload: Bytes::from(payload),
            headers: line.headers,
            stored_at_ms: line.stored_at_ms,
            expires_at_ms: line.expires_at_ms,
            stale_until_ms: line.stale_until_ms,
            tags: line.tags,
        })
    }
}

/// A row to write with its original times.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    namespace: String,
    key: String,
    payload: Bytes,
    headers: Headers,
    stored_at_ms: i64,
    expires_at_ms: Option<i64>,
    stale_until_ms: Option<i64>,
    tags: Tags,
}

impl Row {
    /// A scanned row as it is (the payload is shared, not copied).
    pub(crate) fn from_item(item: ScanItem) -> Result<Row, String> {
        let ms = |t: SystemTime| to_unix_millis(t).map_err(|e| e.to_string());
        Ok(Row {
            stored_at_ms: ms(item.entry.stored_at)?,
            expires_at_ms: item.entry.expires_at.map(ms).transpose()?,
            stale_until_ms: item.entry.stale_until.map(ms).transpose()?,
            namespace: item.namespace,
            key: item.key,
            payload: item.entry.payload,
            headers: item.entry.headers,
            tags: item.entry.tags,
        })
    }
}

fn at(ms: i64) -> Result<SystemTime, String> {
    from_unix_millis(ms).ok_or_else(|| format!("time {ms} is out of range"))
}

/// How to write `line` so that the store keeps its times and tags: a
/// restore write (`stored_at` given), the TTL `Until(expires_at)` and the
/// stale window `stale_until - expires_at`.
fn options(line: &Row) -> Result<(SystemTime, SetOptions), String> {
    let stored_at = at(line.stored_at_ms)?;
    let mut options = SetOptions::new()
        .headers(line.headers.clone())
        .tags(line.tags.iter().cloned())
        .stored_at(stored_at);
    if let (Some(e), Some(s)) = (line.expires_at_ms, line.stale_until_ms) {
        // Times far apart (both legal) must not overflow the subtraction.
        let stale = u64::try_from(i128::from(s) - i128::from(e))
            .map_err(|_| "stale_until is before expires_at")?;
        options = options.ttl(Ttl::Until(at(e)?)).stale_for(Duration::from_millis(stale));
    }
    Ok((stored_at, options))
}

/// Checks that `store` would accept every line as it will be written (the
/// payload within its limit, the times representable), without writing
/// anything; returns each refused line's number (from 1) and why.
pub(crate) fn refused_by(store: &dyn CacheStore, lines: &[(usize, Row)]) -> Vec<String> {
    let max_payload = store.capabilities().max_payload;
    let clock = ManualClock::new();
    let mut refused = Vec::new();
    for (number, line) in lines {
        let checked = options(line).and_then(|(stored_at, options)| {
            clock.set(stored_at.max(SystemTime::now()));
            cachestore_core::raw::prepare_write(
                &clock,
                max_payload,
                &line.namespace,
                &line.key,
                &line.payload,
                &options,
            )
            .map(drop)
            .map_err(|e| e.to_string())
        });
        if let Err(e) = checked {
            refused.push(format!("line {number}: {e}"));
        }
    }
    refused
}

/// Writes rows keeping every field, telling `progress` how many rows each
/// batch wrote. `store` must judge by `clock`. On a failure, says how many
/// rows were written before it.
pub(crate) async fn write_rows(
    store: &Arc<dyn CacheStore>,
    clock: &ManualClock,
    lines: &[Row],
    progress: &indicatif::ProgressBar,
) -> Result<(), String> {
    // Batches of BATCH rows (each atomic where the backend supports it),
    // every row a restore write with its own stored_at; the clock stands
    // at now, or at the batch's latest stored_at if the source's clock ran
    // ahead of this machine's.
    const BATCH: usize = 1_000;
    let mut written = 0;
    let failed = |written: usize, e: String| {
        format!("the store failed after {written} of {} rows were written: {e}", lines.len())
    };
    for chunk in lines.chunks(BATCH) {
        let mut latest = SystemTime::now();
        let mut batch = Vec::with_capacity(chunk.len());
        for line in chunk {
            let (stored_at, options) = options(line).map_err(|e| failed(written, e))?;
            latest = latest.max(stored_at);
            let payload = line.payload.clone();
            batch.push(SetItem::new(line.namespace.clone(), line.key.clone(), payload, options));
        }
        clock.set(latest);
        store.set_many(batch).await.map_err(|e| failed(written, e.to_string()))?;
        written += chunk.len();
        progress.inc(chunk.len() as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The progress bar counts every row written, batch by batch (it stood
    /// at 0 until the end).
    #[tokio::test]
    async fn writing_rows_moves_the_progress_bar() {
        let clock = ManualClock::new();
        let store: Arc<dyn CacheStore> =
            Arc::new(cachestore::MemoryStore::with_clock(clock.clone()));
        let lines: Vec<Row> = (0..5)
            .map(|i| Row {
                namespace: "ns".into(),
                key: format!("k{i}"),
                payload: Bytes::from_static(b"v"),
                headers: Headers::new(),
                stored_at_ms: 1_767_225_600_000 + [0, 0, 0, 1, 2][i],
                expires_at_ms: None,
                stale_until_ms: None,
                tags: Tags::new(),
            })
            .collect();
        let bar = indicatif::ProgressBar::hidden();
        write_rows(&store, &clock, &lines, &bar).await.expect("written");
        assert_eq!(bar.position(), 5, "the bar did not count every row");
        assert!(store.get("ns", "k4").await.expect("get").is_some());
    }

    /// A failure in the second batch says how many rows the first one wrote
    /// (it said 0 whatever had been written).
    #[tokio::test]
    async fn a_failure_says_how_many_rows_were_written_before_it() {
        let clock = ManualClock::new();
        let store: Arc<dyn CacheStore> =
            Arc::new(cachestore::MemoryStore::with_clock(clock.clone()));
        let row = |i: usize, stale_until_ms: Option<i64>| Row {
            namespace: "ns".into(),
            key: format!("k{i}"),
            payload: Bytes::from_static(b"v"),
            headers: Headers::new(),
            stored_at_ms: 1_767_225_600_000,
            expires_at_ms: Some(4_102_444_800_000),
            stale_until_ms,
            tags: Tags::new(),
        };
        let mut lines: Vec<Row> = (0..1_000).map(|i| row(i, Some(4_102_444_800_000))).collect();
        // Row 1,001 has its stale window end before it expires.
        lines.push(row(1_000, Some(1_767_225_600_000)));
        let bar = indicatif::ProgressBar::hidden();
        let message = write_rows(&store, &clock, &lines, &bar).await.expect_err("refused");
        assert!(
            message.contains("after 1000 of 1001 rows"),
            "the message does not count the first batch: {message}"
        );
        assert!(message.contains("stale_until is before expires_at"), "{message}");
        assert_eq!(bar.position(), 1_000);
        assert!(store.get("ns", "k999").await.expect("get").is_some());
    }
}
