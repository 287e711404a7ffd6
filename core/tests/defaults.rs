//! The trait's default methods, on the plainest store that relies on them:
//! what a third-party backend gets without writing them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cachestore_core::raw::RowTimes;
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Condition, Entry, Error, Headers, ManualClock, Page, Result,
    ScanCursor, SetItem, SetOptions, SharedClock, Stats, TouchOptions, check_identity,
};

/// Keeps rows that never expire in a map and records each key `get` is asked for.
#[derive(Debug, Default)]
struct Plain {
    rows: Mutex<BTreeMap<(String, String), Bytes>>,
    gets: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl CacheStore for Plain {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.gets.lock().expect("lock").push(key.to_owned());
        let rows = self.rows.lock().expect("lock");
        Ok(rows.get(&(namespace.to_owned(), key.to_owned())).map(|payload| {
            let times = RowTimes { stored_at: 0, expires_at: None, stale_until: None };
            Entry::from_parts(payload.clone(), Headers::new(), times).expect("epoch")
        }))
    }
    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.get(namespace, key).await
    }
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        _options: SetOptions,
    ) -> Result<()> {
        check_identity(namespace, key)?;
        self.rows.lock().expect("lock").insert((namespace.into(), key.into()), payload);
        Ok(())
    }
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        Ok(self.rows.lock().expect("lock").remove(&(namespace.into(), key.into())).is_some())
    }
    async fn purge_expired(&self) -> Result<u64> {
        Ok(0)
    }
    async fn clear_namespace(&self, _namespace: &str) -> Result<u64> {
        Ok(0)
    }
    async fn clear_all(&self) -> Result<u64> {
        Ok(0)
    }
    async fn scan(
        &self,
        _namespace: Option<&str>,
        _after: Option<&ScanCursor>,
        _limit: usize,
    ) -> Result<Page> {
        Ok(Page::from_items(Vec::new(), false))
    }
    async fn stats(&self) -> Result<Stats> {
        Ok(Stats::new(true))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
    fn clock(&self) -> SharedClock {
        Arc::new(ManualClock::new())
    }
}

fn item(key: &str, payload: &'static [u8]) -> SetItem {
    SetItem::new("ns", key, Bytes::from_static(payload), SetOptions::new())
}

#[tokio::test]
async fn the_v2_operations_are_unsupported_by_default() {
    let store = Plain::default();
    let payload = Bytes::from_static(b"v");
    let outcomes = [
        store.set_if("ns", "k", payload, SetOptions::new(), Condition::IfAbsent).await.err(),
        store.touch("ns", "k", TouchOptions::default()).await.err(),
        store.invalidate_tag("t").await.err(),
        store.compact().await.err(),
    ];
    for (outcome, operation) in
        outcomes.into_iter().zip(["set_if", "touch", "invalidate_tag", "compact"])
    {
        match outcome {
            Some(Error::Unsupported { operation: op, .. }) => assert_eq!(op, operation),
            other => panic!("{operation}: {other:?}, not Unsupported"),
        }
    }
    assert!(store.rows.lock().expect("lock").is_empty(), "set_if wrote nothing");
}

#[tokio::test]
async fn get_many_answers_in_input_order_and_checks_every_identity_first() {
    let store = Plain::default();
    store.set("ns", "a", Bytes::from_static(b"1"), SetOptions::new()).await.expect("set");
    let got = store.get_many(&[("ns", "b"), ("ns", "a"), ("ns", "a")]).await.expect("read");
    let payloads: Vec<_> = got.iter().map(|e| e.as_ref().map(|e| e.payload.clone())).collect();
    assert_eq!(payloads, [None, Some(Bytes::from_static(b"1")), Some(Bytes::from_static(b"1"))]);
    store.gets.lock().expect("lock").clear();
    let err = store.get_many(&[("ns", "a"), ("", "b")]).await.expect_err("empty namespace");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    assert!(store.gets.lock().expect("lock").is_empty(), "nothing read before the check");
}

#[tokio::test]
async fn set_many_validates_the_whole_batch_then_writes_in_order() {
    let store = Plain::default();
    let err = store.set_many(vec![item("a", b"1"), item("", b"2")]).await.expect_err("bad key");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    assert!(store.rows.lock().expect("lock").is_empty(), "no prefix written");
    let big = SetItem {
        payload: Bytes::from(vec![0u8; Capabilities::new().max_payload as usize + 1]),
        ..item("b", b"")
    };
    let err = store.set_many(vec![item("a", b"1"), big]).await.expect_err("too large");
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert!(store.rows.lock().expect("lock").is_empty(), "no prefix written");
    store.set_many(vec![item("a", b"1"), item("b", b"2"), item("a", b"3")]).await.expect("set");
    let rows = store.rows.lock().expect("lock").clone();
    let a = rows.get(&("ns".to_owned(), "a".to_owned()));
    assert_eq!(a, Some(&Bytes::from_static(b"3")), "the later item wins");
    assert_eq!(rows.len(), 2);
}

#[test]
fn a_dyn_store_shows_its_capabilities() {
    let store: Arc<dyn CacheStore> = Arc::new(Plain::default());
    let shown = format!("{store:?}");
    assert!(shown.starts_with("dyn CacheStore") && shown.contains("max_payload"), "{shown}");
}
