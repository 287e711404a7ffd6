//! Four clients (four stores, four connections), each adding 500 to one
//! counter by read, `set_if(IfVersion)` and retry (CONTRACT.md §7): the
//! counter ends at exactly 2,000, on one server and on a cluster. The
//! check-and-write is one script on the server, so no client's increment is
//! lost between another's read and write.

mod support;

use std::sync::Arc;

use cachestore_conformance::versions::{increment, read_counter};
use cachestore_redis::RedisStore;

const CLIENTS: usize = 4;
const EACH: u64 = 500;

async fn four_clients(url: &str, cluster: bool) -> u64 {
    let prefix = support::unique_prefix();
    let mut stores = Vec::new();
    for _ in 0..CLIENTS {
        let store = RedisStore::builder(url).prefix(&prefix).cluster(cluster).open().await;
        stores.push(Arc::new(store.expect("open a client")));
    }
    let mut tasks = Vec::new();
    for store in &stores {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for _ in 0..EACH {
                increment(store.as_ref()).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client failed");
    }
    read_counter(stores[0].as_ref()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_clients_increment_one_counter_exactly() {
    if !support::require_server("four clients on one counter") {
        return;
    }
    let url = support::shared().expect("a redis-server");
    assert_eq!(
        four_clients(&url, false).await,
        CLIENTS as u64 * EACH,
        "increments lost or doubled"
    );
    let cluster = support::cluster().expect("a 3-master cluster");
    assert_eq!(four_clients(&cluster, true).await, CLIENTS as u64 * EACH, "on a cluster");
}
