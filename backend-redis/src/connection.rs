//! The connection: one type for a single node and a cluster, behind the
//! redis crate's `ConnectionLike`, so that every command, pipeline and
//! script runs on either the same way; made when it is first needed, on the
//! runtime that needs it.

use std::time::Duration;

use cachestore_core::Result;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::OnceCell;

use crate::error::{classify, timeout};

/// How to connect: the server (or a cluster's seed node) and the timeouts.
pub(crate) struct Connector {
    pub(crate) info: redis::ConnectionInfo,
    pub(crate) endpoint: String,
    pub(crate) cluster: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    /// A certificate authority (PEM) to trust for TLS instead of the
    /// public roots (checked at build: only with the `tls` feature).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls_root: Option<Vec<u8>>,
}

impl Connector {
    /// Connects, within twice the connect timeout.
    async fn connect(&self) -> Result<Conn> {
        let (endpoint, limit) = (&self.endpoint, self.connect_timeout * 2);
        if self.cluster {
            let builder = redis::cluster::ClusterClientBuilder::new(vec![self.info.clone()])
                .connection_timeout(self.connect_timeout)
                .response_timeout(self.response_timeout)
                .retries(2);
            #[cfg(feature = "tls")]
            let builder = match &self.tls_root {
                Some(pem) => builder.certs(certificates(pem)),
                None => builder,
            };
            let client = builder
                .build()
                .map_err(|e| classify(endpoint, "configuring the cluster client", e))?;
            let conn = tokio::time::timeout(limit, client.get_async_connection())
                .await
                .map_err(|_| timeout(endpoint, limit))?
                .map_err(|e| classify(endpoint, "connecting", e))?;
            Ok(Conn::Cluster(conn))
        } else {
            let client =
                self.client().map_err(|e| classify(endpoint, "configuring the client", e))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(Some(self.response_timeout))
                .set_number_of_retries(1);
            let conn =
                tokio::time::timeout(limit, ConnectionManager::new_with_config(client, config))
                    .await
                    .map_err(|_| timeout(endpoint, limit))?
                    .map_err(|e| classify(endpoint, "connecting", e))?;
            Ok(Conn::Single(conn))
        }
    }
}

impl Connector {
    fn client(&self) -> redis::RedisResult<redis::Client> {
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.tls_root {
            return redis::Client::build_with_tls(self.info.clone(), certificates(pem));
        }
        redis::Client::open(self.info.clone())
    }
}

#[cfg(feature = "tls")]
fn certificates(pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) }
}

/// The store's connection, made by the first call that needs it (a failed
/// attempt is retried by the next call), so that a store can be built
/// without a runtime, or from inside any runtime, without blocking; or the
/// application's own, given to the builder.
pub(crate) struct LazyConn {
    cell: OnceCell<Conn>,
    connector: Connector,
}

impl LazyConn {
    pub(crate) fn new(connector: Connector, given: Option<Conn>) -> LazyConn {
        LazyConn { cell: OnceCell::new_with(given), connector }
    }

    /// The connection, connecting first if it was not made yet.
    pub(crate) async fn get(&self) -> Result<Conn> {
        self.cell.get_or_try_init(|| self.connector.connect()).await.cloned()
    }

    /// Whether the store is on a cluster (rows of different namespaces may
    /// then live on different nodes).
    pub(crate) fn is_cluster(&self) -> bool {
        self.connector.cluster
    }
}

/// A connection to a single node (reconnecting by itself) or to a cluster.
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "a connection to a single node",
            Conn::Cluster(_) => "a connection to a cluster",
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
