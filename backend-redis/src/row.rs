//! A row as written to and read from Redis.

use cachestore_core::Bytes;
use cachestore_core::raw::RowTimes;

pub(crate) fn opt_ms(v: Option<i64>) -> String {
    v.map(|t| t.to_string()).unwrap_or_default()
}

/// The reply to `HMGET row s e m p g`.
pub(crate) type Fields =
    (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// A row ready to write.
pub(crate) struct NewRow {
    pub(crate) ns: String,
    pub(crate) key: String,
    pub(crate) times: RowTimes,
    pub(crate) headers: Vec<u8>,
    /// The tags' blob (core's tags encoding); empty for none.
    pub(crate) tags: Vec<u8>,
    /// The tags, for their sets.
    pub(crate) tag_list: Vec<String>,
    pub(crate) payload: Bytes,
}

/// The last item for each identity, in their order: all that a sequence of
/// sets leaves behind.
pub(crate) fn last_per_identity(items: Vec<NewRow>) -> Vec<NewRow> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<NewRow> =
        items.into_iter().rev().filter(|r| seen.insert((r.ns.clone(), r.key.clone()))).collect();
    last.reverse();
    last
}

/// What a row read back holds.
pub(crate) struct Raw {
    pub(crate) stale: Option<Vec<u8>>,
    pub(crate) expires: Option<Vec<u8>>,
    pub(crate) meta: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) tags: Option<Vec<u8>>,
}

impl From<Fields> for Raw {
    fn from((stale, expires, meta, payload, tags): Fields) -> Raw {
        Raw { stale, expires, meta, payload, tags }
    }
}
