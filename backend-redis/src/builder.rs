//! Building a store and connecting it: single node or cluster, timeouts.

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::{Clock, Error, Result, SharedClock};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::connection::Conn;
use crate::error::{classify, timeout};
use crate::schema::{CLEAR, PURGE};
use crate::store::{Inner, RedisStore, endpoint};

/// Builds a [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    pub(crate) url: String,
    pub(crate) cluster: bool,
    pub(crate) prefix: String,
    pub(crate) clock: SharedClock,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) expiry_grace: Duration,
    pub(crate) max_payload: u64,
}

impl RedisStoreBuilder {
    /// A builder from a store URL: `redis://[user:password@]host:port/db` or
    /// `rediss://…`, with the options `prefix=`, `cluster=true|false`,
    /// `connect_timeout_ms=`, `response_timeout_ms=`, `expiry_grace_ms=` and
    /// `max_payload=`; the rest of the query (`protocol=resp3`, say) goes to
    /// the redis crate as it is.
    pub fn from_url(url: &str) -> Result<RedisStoreBuilder> {
        let mut url = cachestore_core::raw::url::StoreUrl::parse(url)?;
        url.expect_scheme(&["redis", "rediss"])?;
        let prefix = url.take("prefix");
        let cluster = url.take_bool("cluster")?;
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        let connect = ms(url.take_u64("connect_timeout_ms")?);
        let response = ms(url.take_u64("response_timeout_ms")?);
        let grace = ms(url.take_u64("expiry_grace_ms")?);
        let max_payload = url.take_u64("max_payload")?;
        let rest: Vec<String> = url.options().iter().map(|(k, v)| format!("{k}={v}")).collect();
        let base = url.raw().split('?').next().unwrap_or(url.raw()).to_owned();
        let target = if rest.is_empty() { base } else { format!("{base}?{}", rest.join("&")) };
        let mut builder = RedisStore::builder(target);
        if let Some(p) = prefix {
            builder = builder.prefix(p);
        }
        if let Some(on) = cluster {
            builder = builder.cluster(on);
        }
        if let Some(d) = connect {
            builder = builder.connect_timeout(d);
        }
        if let Some(d) = response {
            builder = builder.response_timeout(d);
        }
        if let Some(d) = grace {
            builder = builder.expiry_grace(d);
        }
        if let Some(bytes) = max_payload {
            builder = builder.max_payload(bytes);
        }
        Ok(builder)
    }

    cachestore_core::raw::builder::setters! {
        /// The clock every phase is judged by. Default: [`SystemClock`](cachestore_core::SystemClock).
        clock(clock: impl Clock) => clock = Arc::new(clock);
        /// The clock, already shared.
        shared_clock(clock: SharedClock) => clock;
        /// Treat the URL as a seed node of a Redis Cluster. Default: single node.
        cluster(on: bool) => cluster;
        /// The prefix of every key, so that stores can share a database.
        /// Default: [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX).
        prefix(prefix: impl Into<String>) => prefix = prefix.into();
        /// How long to wait for a connection. Default: 2 s.
        connect_timeout(timeout: Duration) => connect_timeout;
        /// How long to wait for a reply. Default: 5 s.
        response_timeout(timeout: Duration) => response_timeout;
        /// How long after `stale_until` Redis keeps a row. Default:
        /// [`DEFAULT_EXPIRY_GRACE`](crate::DEFAULT_EXPIRY_GRACE).
        expiry_grace(grace: Duration) => expiry_grace;
        /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`](crate::DEFAULT_MAX_PAYLOAD); between
        /// 16 MiB and 512 MiB.
        max_payload(bytes: u64) => max_payload;
    }

    /// Connects. Fails with [`Error::Unavailable`] when the server cannot be
    /// reached within the connect timeout, and with [`Error::Config`] on a
    /// bad URL or failed authentication.
    pub async fn open(self) -> Result<RedisStore> {
        cachestore_core::raw::builder::check_max_payload(self.max_payload, 512 << 20)?;
        let info: redis::ConnectionInfo =
            redis::IntoConnectionInfo::into_connection_info(self.url.as_str()).map_err(|e| {
                Error::Config {
                    message: format!(
                        "{}: not a Redis URL: {e}",
                        cachestore_core::redact_url(&self.url)
                    ),
                }
            })?;
        let endpoint = endpoint(&info);
        let conn = if self.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(vec![info])
                .connection_timeout(self.connect_timeout)
                .response_timeout(self.response_timeout)
                .retries(2)
                .build()
                .map_err(|e| classify(&endpoint, "configuring the cluster client", e))?;
            let conn =
                tokio::time::timeout(self.connect_timeout * 2, client.get_async_connection())
                    .await
                    .map_err(|_| timeout(&endpoint, self.connect_timeout * 2))?
                    .map_err(|e| classify(&endpoint, "connecting", e))?;
            Conn::Cluster(conn)
        } else {
            let client = redis::Client::open(info)
                .map_err(|e| classify(&endpoint, "configuring the client", e))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(Some(self.response_timeout))
                .set_number_of_retries(1);
            let conn = tokio::time::timeout(
                self.connect_timeout * 2,
                ConnectionManager::new_with_config(client, config),
            )
            .await
            .map_err(|_| timeout(&endpoint, self.connect_timeout * 2))?
            .map_err(|e| classify(&endpoint, "connecting", e))?;
            Conn::Single(conn)
        };
        let store = RedisStore {
            inner: Arc::new(Inner {
                conn,
                endpoint,
                prefix: self.prefix,
                clock: self.clock,
                expiry_grace: self.expiry_grace,
                max_payload: self.max_payload,
                purge: Script::new(PURGE),
                clear: Script::new(CLEAR),
            }),
        };
        // Fail now, not at the first operation, on a wrong password.
        store.query::<String>(&redis::cmd("PING"), "checking the connection").await?;
        Ok(store)
    }
}

#[cfg(test)]
mod url_tests {
    use super::RedisStoreBuilder;
    use cachestore_core::Error;

    #[test]
    fn from_url_takes_its_own_options_and_refuses_the_rest() {
        RedisStoreBuilder::from_url(
            "rediss://u:pw@h:6380/2?prefix=a:&cluster=false&connect_timeout_ms=5&protocol=resp3",
        )
        .expect("a URL with every kind of option");
        for bad in
            ["redis://h/0?cluster=maybe", "sqlite:///x.db", concat!("sqlite:///x.db", "?typo=1")]
        {
            match RedisStoreBuilder::from_url(bad) {
                Err(Error::Config { .. }) => {}
                Err(e) => panic!("{bad}: {e:?}"),
                Ok(_) => panic!("{bad} was taken"),
            }
        }
        // Options it does not know go to the redis crate (`protocol=resp3`
        // above), which judges them when it connects.
    }
}
