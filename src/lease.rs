//! One fetch per key across processes and machines: a lease row written
//! `IfAbsent` with a short TTL (CONTRACT.md §7). The winner fetches; the
//! others wait for its row, or for the lease to lapse if it crashed.

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::{Bytes, CacheStore, Condition, Result, SetOptions, Ttl, WriteOutcome};

use sha2::{Digest, Sha256};

/// The namespace lease rows live in. They are short-lived (the lease TTL)
/// and removed when the fetch is done.
pub const LEASE_NAMESPACE: &str = "cachestore.leases";

/// The default lease TTL: how long a crashed fetcher can hold up the
/// others, at most.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// The lease row's key for `(namespace, key)`: a SHA-256, so any identity
/// fits in a key.
fn lease_key(namespace: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update((namespace.len() as u64).to_le_bytes());
    h.update(namespace.as_bytes());
    h.update(key.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A held lease; released when dropped (in the background, if a runtime is
/// there) unless [`Lease::release`] was awaited.
pub(crate) struct Lease {
    store: Arc<dyn CacheStore>,
    key: String,
    version: u64,
    released: bool,
}

/// Tries once to take the lease of `(namespace, key)`: `Ok(None)` when
/// another holder has it.
pub(crate) async fn try_acquire(
    store: &Arc<dyn CacheStore>,
    namespace: &str,
    key: &str,
    ttl: Duration,
) -> Result<Option<Lease>> {
    let key = lease_key(namespace, key);
    let holder = Bytes::from(format!("pid {}", std::process::id()));
    let options = SetOptions::new().ttl(Ttl::For(ttl));
    match store.set_if(LEASE_NAMESPACE, &key, holder, options, Condition::IfAbsent).await? {
        WriteOutcome::Written { version } => {
            Ok(Some(Lease { store: Arc::clone(store), key, version, released: false }))
        }
        WriteOutcome::NotWritten { .. } => Ok(None),
    }
}

/// Removes the lease row if it is still ours. (Read, then delete: a lease
/// that lapsed between the two and was taken by another process in that
/// moment would be removed, and a third process could start a fetch of
/// its own. Writing a dead row in its place under `IfVersion` would be
/// exact, but leaves a dead row behind for every fetch until a purge.)
async fn release_write(store: Arc<dyn CacheStore>, key: String, version: u64) {
    let result = async {
        match store.get_stale(LEASE_NAMESPACE, &key).await? {
            Some(row) if row.version == version => {
                store.delete(LEASE_NAMESPACE, &key).await.map(drop)
            }
            _ => Ok(()),
        }
    };
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "releasing a fetch lease failed; it lapses by its TTL");
    }
}

impl Lease {
    /// Gives the lease back.
    pub(crate) async fn release(mut self) {
        self.released = true;
        release_write(Arc::clone(&self.store), std::mem::take(&mut self.key), self.version).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // A cancelled fetch: give the lease back in the background, or let
        // it lapse by its TTL where no runtime is there.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let key = std::mem::take(&mut self.key);
            handle.spawn(release_write(Arc::clone(&self.store), key, self.version));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_keys_fit_any_identity_and_never_collide() {
        let long = "k".repeat(4096);
        assert_eq!(lease_key("ns", &long).len(), 64);
        assert_ne!(lease_key("a:b", "c"), lease_key("a", "b:c"));
        assert_ne!(lease_key("ab", "c"), lease_key("a", "bc"));
    }
}
