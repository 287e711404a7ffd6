//! [`TracedStore`]: every store operation in a `tracing` span.

use std::future::Future;
use std::sync::Arc;

use cachestore_core::{
    Bytes, CacheStore, Capabilities, Condition, Entry, Page, Result, ScanCursor, SetItem,
    SetOptions, SharedClock, Stats, TouchOptions, WriteOutcome, async_trait,
};
use tracing::Instrument;

/// A store whose every operation runs in a `tracing` span named
/// `cachestore.store`, at `DEBUG`, with the fields `backend`, `operation`,
/// `namespace` (when the operation has one) and `outcome` (`hit`, `miss`,
/// `written`, `not_written`, `removed`, `absent`, a count, or the error's
/// [kind](cachestore_core::Error::kind)). Keys, payloads, headers and error
/// messages are never recorded: a key may hold a user's identity, a header
/// or a message a token.
///
/// [`open`](crate::open) returns its stores wrapped in one; wrap a store
/// built by hand with [`TracedStore::new`]. With no subscriber, or one
/// above `DEBUG`, a span costs a few nanoseconds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore::Result<()> {
/// use std::sync::Arc;
/// use cachestore::{CacheStore, MemoryStore, TracedStore};
///
/// let store = TracedStore::new(Arc::new(MemoryStore::new()), "memory");
/// assert!(store.get("ns", "k").await?.is_none()); // span: operation=get, outcome=miss
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracedStore {
    inner: Arc<dyn CacheStore>,
    backend: &'static str,
}

impl TracedStore {
    /// `inner`, its operations traced under the name `backend`.
    pub fn new(inner: Arc<dyn CacheStore>, backend: &'static str) -> Self {
        TracedStore { inner, backend }
    }

    /// The store it wraps.
    pub fn inner(&self) -> &Arc<dyn CacheStore> {
        &self.inner
    }

    async fn traced<T, F>(
        &self,
        operation: &'static str,
        namespace: Option<&str>,
        call: F,
        outcome: impl FnOnce(&T) -> String,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let span = tracing::debug_span!(
            "cachestore.store",
            backend = self.backend,
            operation,
            namespace,
            outcome = tracing::field::Empty,
        );
        let result = call.instrument(span.clone()).await;
        if !span.is_disabled() {
            match &result {
                Ok(value) => span.record("outcome", outcome(value).as_str()),
                Err(e) => span.record("outcome", e.kind()),
            };
        }
        result
    }
}

fn found(e: &Option<Entry>) -> String {
    if e.is_some() { "hit" } else { "miss" }.to_owned()
}

fn count(n: &u64) -> String {
    n.to_string()
}

#[async_trait]
impl CacheStore for TracedStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.traced("get", Some(namespace), self.inner.get(namespace, key), found).await
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.traced("get_stale", Some(namespace), self.inner.get_stale(namespace, key), found).await
    }

    async fn set(&self, ns: &str, key: &str, payload: Bytes, options: SetOptions) -> Result<()> {
        let call = self.inner.set(ns, key, payload, options);
        self.traced("set", Some(ns), call, |()| "written".to_owned()).await
    }

    async fn set_if(
        &self,
        ns: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        let call = self.inner.set_if(ns, key, payload, options, condition);
        let outcome =
            |o: &WriteOutcome| if o.is_written() { "written" } else { "not_written" }.to_owned();
        self.traced("set_if", Some(ns), call, outcome).await
    }

    async fn touch(&self, ns: &str, key: &str, options: TouchOptions) -> Result<Option<u64>> {
        let call = self.inner.touch(ns, key, options);
        let outcome = |v: &Option<u64>| if v.is_some() { "touched" } else { "absent" }.to_owned();
        self.traced("touch", Some(ns), call, outcome).await
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        self.traced("invalidate_tag", None, self.inner.invalidate_tag(tag), count).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let call = self.inner.delete(namespace, key);
        let outcome = |live: &bool| if *live { "removed" } else { "absent" }.to_owned();
        self.traced("delete", Some(namespace), call, outcome).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.traced("purge_expired", None, self.inner.purge_expired(), count).await
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        let call = self.inner.clear_namespace(namespace);
        self.traced("clear_namespace", Some(namespace), call, count).await
    }

    async fn clear_all(&self) -> Result<u64> {
        self.traced("clear_all", None, self.inner.clear_all(), count).await
    }

    async fn get_many(&self, ids: &[(&str, &str)]) -> Result<Vec<Option<Entry>>> {
        let outcome = |rows: &Vec<Option<Entry>>| {
            format!("{} of {}", rows.iter().filter(|r| r.is_some()).count(), rows.len())
        };
        self.traced("get_many", None, self.inner.get_many(ids), outcome).await
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let n = items.len();
        let call = self.inner.set_many(items);
        self.traced("set_many", None, call, |()| format!("{n} written")).await
    }

    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        let call = self.inner.scan(namespace, after, limit);
        let outcome = |p: &Page| format!("{} rows", p.items.len());
        self.traced("scan", namespace, call, outcome).await
    }

    async fn stats(&self) -> Result<Stats> {
        let outcome = |s: &Stats| format!("{} live", s.fresh + s.stale);
        self.traced("stats", None, self.inner.stats(), outcome).await
    }

    async fn compact(&self) -> Result<u64> {
        let outcome = |freed: &u64| format!("{freed} bytes freed");
        self.traced("compact", None, self.inner.compact(), outcome).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock()
    }
}
