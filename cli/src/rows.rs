//! The export line format, and writing rows with their original metadata.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cachestore::{
    Bytes, CacheStore, Entry, Headers, ManualClock, ScanItem, SetItem, SetOptions, Ttl,
    from_unix_millis, to_unix_millis,
};
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
        })
    }

    /// Parses and checks one line; `Err` says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Line, String> {
        let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
        cachestore::check_identity(&line.namespace, &line.key).map_err(|e| e.to_string())?;
        BASE64.decode(&line.payload_base64).map_err(|e| format!("payload_base64: {e}"))?;
        let times = cachestore::RowTimes {
            stored_at: line.stored_at_ms,
            expires_at: line.expires_at_ms,
            stale_until: line.stale_until_ms,
        };
        times.check().map_err(str::to_owned)?;
        Ok(line)
    }

    fn payload(&self) -> Bytes {
        // Checked by `parse` or produced by `from_item`.
        Bytes::from(BASE64.decode(&self.payload_base64).unwrap_or_default())
    }
}

fn at(ms: i64) -> Result<SystemTime, String> {
    from_unix_millis(ms).ok_or_else(|| format!("time {ms} is out of range"))
}

/// How to write `line` so that the store keeps its times: the store's clock
/// stands at `stored_at`, the TTL is `Until(expires_at)` and the stale window
/// `stale_until - expires_at`.
fn options(line: &Line) -> Result<(SystemTime, SetOptions), String> {
    let stored_at = at(line.stored_at_ms)?;
    let mut options = SetOptions::new().headers(line.headers.clone());
    if let (Some(e), Some(s)) = (line.expires_at_ms, line.stale_until_ms) {
        // Times far apart (both legal) must not overflow the subtraction.
        let stale = s
            .checked_sub(e)
            .and_then(|d| u64::try_from(d).ok())
            .ok_or("stale_until is before expires_at, or too far after it")?;
        options = options.ttl(Ttl::Until(at(e)?)).stale_for(Duration::from_millis(stale));
    }
    Ok((stored_at, options))
}

/// Writes rows keeping every field. `store` must judge by `clock`.
pub(crate) async fn write_rows(
    store: &Arc<dyn CacheStore>,
    clock: &ManualClock,
    lines: &[Line],
) -> Result<(), String> {
    // Rows stored at the same moment go in one batch (atomic where the
    // backend supports it); the clock moves between batches.
    let mut batch: Vec<SetItem> = Vec::new();
    let mut batch_at = None;
    for line in lines {
        let (stored_at, options) = options(line)?;
        if batch_at.is_some_and(|t| t != stored_at) {
            flush(store, clock, &mut batch, batch_at).await?;
        }
        batch_at = Some(stored_at);
        batch.push(SetItem::new(line.namespace.clone(), line.key.clone(), line.payload(), options));
    }
    flush(store, clock, &mut batch, batch_at).await
}

async fn flush(
    store: &Arc<dyn CacheStore>,
    clock: &ManualClock,
    batch: &mut Vec<SetItem>,
    at: Option<SystemTime>,
) -> Result<(), String> {
    if let Some(at) = at {
        clock.set(at);
        store.set_many(std::mem::take(batch)).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// An entry's row as a line (for `get --meta`).
pub(crate) fn line_of(namespace: &str, key: &str, entry: &Entry) -> Result<Line, String> {
    Line::from_item(&ScanItem {
        namespace: namespace.into(),
        key: key.into(),
        entry: entry.clone(),
    })
}
