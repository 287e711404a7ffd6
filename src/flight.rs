//! Single-flight shared by every [`Cache`](crate::Cache) over one store in
//! this process: one registry, keyed by the store's identity, the namespace
//! and the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

type Key = (usize, String, String);
type Flight = Arc<tokio::sync::Mutex<()>>;

fn registry() -> &'static Mutex<HashMap<Key, Flight>> {
    static FLIGHTS: OnceLock<Mutex<HashMap<Key, Flight>>> = OnceLock::new();
    FLIGHTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A place in the queue for one key. Dropping it (also when the future
/// holding it is cancelled) removes the registry's entry once nobody else
/// holds or waits for the flight, so nothing is left behind.
pub(crate) struct Ticket {
    key: Key,
    // `None` only inside `drop`, which lets go of it under the registry's lock.
    flight: Option<Flight>,
}

/// The flight itself: while it lives, no other caller in this process
/// fetches this key.
pub(crate) struct Boarded {
    // Dropped first (field order): the lock, then the ticket's bookkeeping.
    _guard: tokio::sync::OwnedMutexGuard<()>,
    _ticket: Ticket,
}

impl Ticket {
    /// A ticket for `(store, namespace, key)`; `store` is the address of the
    /// store's allocation, unique while any cache over it lives.
    pub(crate) fn new(store: usize, namespace: &str, key: &str) -> Ticket {
        let key = (store, namespace.to_owned(), key.to_owned());
        let mut flights = registry().lock().unwrap_or_else(PoisonError::into_inner);
        let flight = Arc::clone(flights.entry(key.clone()).or_default());
        Ticket { key, flight: Some(flight) }
    }

    fn flight(&self) -> Flight {
        self.flight.as_ref().map(Arc::clone).unwrap_or_default()
    }

    /// Waits for the flight.
    pub(crate) async fn board(self) -> Boarded {
        let guard = self.flight().lock_owned().await;
        Boarded { _guard: guard, _ticket: self }
    }

    /// The flight if nobody holds it now.
    pub(crate) fn try_board(self) -> Option<Boarded> {
        let guard = self.flight().try_lock_owned().ok()?;
        Some(Boarded { _guard: guard, _ticket: self })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut flights = registry().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = self.flight.take() {
            // The registry's reference and ours: nobody else holds or waits.
            if Arc::strong_count(&flight) <= 2 {
                flights.remove(&self.key);
            }
            drop(flight);
        }
    }
}

/// How many keys of `namespace` have a flight registered, over every store
/// (tests: nothing left behind).
#[doc(hidden)]
pub fn registered_flights(namespace: &str) -> usize {
    let flights = registry().lock().unwrap_or_else(PoisonError::into_inner);
    flights.keys().filter(|(_, ns, _)| ns == namespace).count()
}
