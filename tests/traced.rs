//! Store operations opened through `cachestore::open` run in `tracing`
//! spans with the backend, the operation, the namespace and the outcome,
//! and never the key, the payload or a header: checked with a subscriber
//! that records every span's fields.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cachestore::{Bytes, SetOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

#[derive(Default)]
struct Spans {
    next: AtomicU64,
    spans: Mutex<BTreeMap<u64, (String, Fields)>>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Spans>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Fields::new();
        span.record(&mut Collect(&mut fields));
        let name = span.metadata().name().to_owned();
        self.0.spans.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, fields)) = spans.get_mut(&span.into_u64()) {
            values.record(&mut Collect(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn store_operations_are_traced_without_keys_or_payloads() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let store = cachestore::open("memory://").expect("open");
    let secret_key = "user/alice@example.com";
    let options = SetOptions::new().header("authorization", "Bearer s3cr3t");
    store
        .set("profiles", secret_key, Bytes::from_static(b"payload-bytes"), options)
        .await
        .expect("set");
    assert!(store.get("profiles", secret_key).await.expect("get").is_some());
    assert!(store.get("profiles", "absent").await.expect("get").is_none());
    assert!(store.get("", "k").await.is_err());
    assert_eq!(store.clear_namespace("profiles").await.expect("clear"), 1);

    let spans: Vec<(String, Fields)> =
        recorder.0.spans.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
    let ours: Vec<&Fields> =
        spans.iter().filter(|(name, _)| name == "cachestore.store").map(|(_, f)| f).collect();
    let seen: Vec<(String, String)> = ours
        .iter()
        .map(|f| {
            (
                f.get("operation").cloned().unwrap_or_default(),
                f.get("outcome").cloned().unwrap_or_default(),
            )
        })
        .collect();
    let want = [
        ("set", "written"),
        ("get", "hit"),
        ("get", "miss"),
        ("get", "InvalidKey"),
        ("clear_namespace", "1"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    assert_eq!(seen, want);
    for fields in &ours {
        assert_eq!(fields.get("backend").map(String::as_str), Some("memory"), "{fields:?}");
    }
    assert_eq!(ours[0].get("namespace").map(String::as_str), Some("profiles"));
    let everything = format!("{spans:?}");
    for secret in [secret_key, "payload-bytes", "s3cr3t", "authorization"] {
        assert!(!everything.contains(secret), "{secret:?} reached a span: {everything}");
    }
}
