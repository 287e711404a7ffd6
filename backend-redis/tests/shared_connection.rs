//! An application shares its own connection with the store
//! (`RedisStore::from_connection`): the store opens no connection of its
//! own, and both use the one connection.

mod support;

use cachestore_core::{Bytes, CacheStore, SetOptions};
use cachestore_redis::RedisStore;

#[tokio::test]
async fn the_store_uses_the_applications_connection_and_opens_none() {
    if !support::require_server("shared connection") {
        return;
    }
    let server = support::Server::start(&[]).expect("a private redis-server");
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = redis::aio::ConnectionManager::new(client).await.expect("connect");
    let clients = || server.cli(&["CLIENT", "LIST"]).lines().filter(|l| l.contains("cmd=")).count();
    let before = clients();
    let store = RedisStore::from_connection(server.url(), conn.clone())
        .prefix("shared:")
        .open()
        .await
        .expect("open on the shared connection");
    store.set("ns", "k", Bytes::from_static(b"v"), SetOptions::new()).await.expect("set");
    assert_eq!(&store.get("ns", "k").await.expect("get").expect("row").payload[..], b"v");
    // The application goes on using the same connection.
    let () = redis::cmd("SET").arg("app:own").arg("1").query_async(&mut conn).await.expect("set");
    // redis-cli's own connection is the one more client in the list.
    assert_eq!(clients(), before, "the store opened a connection of its own");
}
