//! The shape shared by stores whose writes go through one [`GroupWriter`]
//! (SQLite, redb): implement [`SingleWriterStore`] and the [`CacheStore`]
//! implementation comes with it.
//!
//! The blanket implementation does what every such store does the same way:
//! it validates identities, reads the clock once per call, prepares rows with
//! [`prepare_write`] (so every backend refuses the same inputs with the same
//! errors), and sends writes to the writer as [`Write`]s. The backend keeps
//! what is its own: how a row is encoded, read, scanned and counted.

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Error;
use crate::error::Result;
use crate::identity::{check_identity, check_namespace, check_tag};
use crate::raw::group::{Answer, GroupWriter, PreparedTouch, Write, WriteEngine};
use crate::raw::scan::ScanRange;
use crate::store::{CacheStore, prepare_write};
use crate::time::{RowTimes, SharedClock, to_unix_millis};
use crate::types::{
    Capabilities, Condition, Entry, Headers, Page, ScanCursor, SetItem, SetOptions, Stats, Tags,
    TouchOptions, WriteOutcome,
};

/// A store whose writes go through one [`GroupWriter`]; every implementor
/// is a [`CacheStore`].
///
/// Times are milliseconds since the Unix epoch, read once per call from the
/// store's clock. Identities reaching the read methods are valid.
pub trait SingleWriterStore: Send + Sync + 'static {
    /// The backend's prepared row (the [`Write::Set`] payload).
    type Row: Send + 'static;
    /// The backend's write side.
    type Engine: WriteEngine<Op = Write<Self::Row>, Reply = Answer>;

    /// The store's writer, clock and capabilities.
    fn parts(&self) -> &WriterParts<Self::Engine>;

    /// A validated row (its identity, payload size and times checked and
    /// resolved), encoded as the backend stores it.
    fn make_row(&self, row: PreparedRow) -> Result<Self::Row>;

    /// The row at `(namespace, key)` if it is fresh at `now` (or stale, with
    /// `stale_ok`).
    fn read_row(
        &self,
        namespace: &str,
        key: &str,
        now: i64,
        stale_ok: bool,
    ) -> Result<Option<Entry>>;

    /// The fresh row of each identity, in order (one snapshot where the
    /// engine has them).
    fn read_rows(&self, ids: &[(&str, &str)], now: i64) -> Result<Vec<Option<Entry>>>;

    /// At most `limit` (at least 1) rows live at `now` within `range`, in
    /// `(namespace, key)` byte order.
    fn scan_rows(&self, range: ScanRange<'_>, limit: usize, now: i64) -> Result<Page>;

    /// Counts of the rows live at `now`.
    fn count_rows(&self, now: i64) -> Result<Stats>;

    /// The blocking work of [`CacheStore::compact`], to run on a thread of
    /// its own: it returns the bytes of files freed. The default (for a
    /// store without [`Capabilities::compact`]) is [`Error::Unsupported`].
    fn compact_job(&self) -> Result<CompactJob> {
        Err(Error::Unsupported { backend: Self::Engine::NAME, operation: "compact" })
    }
}

/// The work of a [`SingleWriterStore::compact_job`].
pub type CompactJob = Box<dyn FnOnce() -> Result<u64> + Send + 'static>;

/// What a [`SingleWriterStore`] holds for the [`CacheStore`] it gets: the
/// writer every write goes through, the clock every phase is judged by, and
/// what the store can do (decided when it was opened; its
/// [`Capabilities::max_payload`] bounds every write).
#[derive(Debug)]
pub struct WriterParts<E: WriteEngine> {
    /// The writer.
    pub writer: GroupWriter<E>,
    /// The clock.
    pub clock: SharedClock,
    /// The capabilities.
    pub capabilities: Capabilities,
}

/// A write validated by [`prepare_write`], its times resolved, for
/// [`SingleWriterStore::make_row`] to encode.
#[derive(Debug)]
#[non_exhaustive]
pub struct PreparedRow {
    /// The row's namespace.
    pub namespace: String,
    /// The row's key.
    pub key: String,
    /// When it was stored, expires and stops being served stale.
    pub times: RowTimes,
    /// Its headers.
    pub headers: Headers,
    /// Its tags (checked: at most 16, each 1..=255 bytes).
    pub tags: Tags,
    /// Its payload.
    pub payload: Bytes,
}

/// [`Error::Unsupported`] for a write with tags on a store without
/// [`Capabilities::tags`]: tags are never dropped silently.
pub fn refuse_tags(backend: &'static str, capabilities: &Capabilities, tags: &Tags) -> Result<()> {
    if tags.is_empty() || capabilities.tags {
        Ok(())
    } else {
        Err(Error::Unsupported { backend, operation: "writing tags" })
    }
}

fn now<S: SingleWriterStore + ?Sized>(store: &S) -> Result<i64> {
    to_unix_millis(store.parts().clock.now())
}

fn prepare<S: SingleWriterStore>(
    store: &S,
    namespace: String,
    key: String,
    payload: Bytes,
    options: SetOptions,
) -> Result<S::Row> {
    let parts = store.parts();
    let (limit, clock) = (parts.capabilities.max_payload, parts.clock.as_ref());
    let times = prepare_write(clock, limit, &namespace, &key, &payload, &options)?;
    refuse_tags(S::Engine::NAME, &parts.capabilities, &options.tags)?;
    let (headers, tags) = (options.headers, options.tags);
    store.make_row(PreparedRow { namespace, key, times, headers, tags, payload })
}

#[async_trait]
impl<S: SingleWriterStore> CacheStore for S {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        self.read_row(namespace, key, now(self)?, false)
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        check_identity(namespace, key)?;
        self.read_row(namespace, key, now(self)?, true)
    }

    async fn set(&self, ns: &str, key: &str, payload: Bytes, options: SetOptions) -> Result<()> {
        // Validate before allocating the owned identity.
        check_identity(ns, key)?;
        let row = prepare(self, ns.to_owned(), key.to_owned(), payload, options)?;
        self.parts().writer.set(vec![row]).await
    }

    async fn set_if(
        &self,
        ns: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        check_identity(ns, key)?;
        if !self.parts().capabilities.conditional_writes {
            return Err(Error::Unsupported { backend: S::Engine::NAME, operation: "set_if" });
        }
        crate::store::refuse_restore(&options)?;
        let row = prepare(self, ns.to_owned(), key.to_owned(), payload, options)?;
        self.parts().writer.set_if(row, condition).await
    }

    async fn touch(&self, ns: &str, key: &str, options: TouchOptions) -> Result<Option<u64>> {
        check_identity(ns, key)?;
        if !self.parts().capabilities.touch {
            return Err(Error::Unsupported { backend: S::Engine::NAME, operation: "touch" });
        }
        let parts = self.parts();
        let times = RowTimes::resolve(parts.clock.now(), options.ttl, options.stale_for)?;
        let touch = PreparedTouch {
            namespace: ns.to_owned(),
            key: key.to_owned(),
            times,
            headers: options.headers,
        };
        parts.writer.touch(touch).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        self.parts().writer.delete(namespace, key, now(self)?).await
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        check_tag(tag)?;
        if !self.parts().capabilities.tags {
            return Err(Error::Unsupported {
                backend: S::Engine::NAME,
                operation: "invalidate_tag",
            });
        }
        let op = Write::InvalidateTag { tag: tag.to_owned(), now: now(self)? };
        self.parts().writer.count(op).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.parts().writer.count(Write::Purge { now: now(self)? }).await
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        check_namespace(namespace)?;
        let op = Write::Clear { namespace: Some(namespace.to_owned()), now: now(self)? };
        self.parts().writer.count(op).await
    }

    async fn clear_all(&self) -> Result<u64> {
        self.parts().writer.count(Write::Clear { namespace: None, now: now(self)? }).await
    }

    async fn get_many(&self, ids: &[(&str, &str)]) -> Result<Vec<Option<Entry>>> {
        for (namespace, key) in ids {
            check_identity(namespace, key)?;
        }
        self.read_rows(ids, now(self)?)
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            rows.push(prepare(self, item.namespace, item.key, item.payload, item.options)?);
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.parts().writer.set(rows).await
    }

    async fn scan(&self, ns: Option<&str>, at: Option<&ScanCursor>, limit: usize) -> Result<Page> {
        match ScanRange::new(ns, at)? {
            Some(range) => self.scan_rows(range, limit.max(1), now(self)?),
            None => Ok(Page::default()),
        }
    }

    async fn stats(&self) -> Result<Stats> {
        self.count_rows(now(self)?)
    }

    async fn compact(&self) -> Result<u64> {
        let job = self.compact_job()?;
        crate::raw::group::off_thread(S::Engine::NAME, job).await?
    }

    fn capabilities(&self) -> Capabilities {
        self.parts().capabilities
    }

    fn clock(&self) -> SharedClock {
        self.parts().clock.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_refused_only_where_the_store_has_none() {
        let tags: Tags = ["album:1".to_owned()].into_iter().collect();
        let plain = Capabilities::new();
        let err = refuse_tags("test", &plain, &tags).expect_err("no tags here");
        assert!(matches!(err, Error::Unsupported { operation: "writing tags", .. }), "{err:?}");
        assert!(refuse_tags("test", &plain, &Tags::new()).is_ok(), "no tags, nothing to refuse");
        assert!(refuse_tags("test", &plain.with_tags(true), &tags).is_ok());
    }
}
