//! Building a store and connecting it: single node or cluster, timeouts.

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::raw::url::apply;
use cachestore_core::{Clock, Error, Result, SharedClock};
use redis::Script;

use crate::connection::{Conn, Connector, LazyConn};
use crate::schema::{CLEAR, INVALIDATE, PURGE, SET_IF, TAG_ADD, TOUCH};
use crate::store::{Inner, RedisStore, endpoint};

/// The query options the redis crate reads from a URL.
const REDIS_CRATE_OPTIONS: [&str; 4] = ["protocol", "db", "user", "pass"];

/// Builds a [`RedisStore`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `open()`"]
pub struct RedisStoreBuilder {
    pub(crate) url: String,
    pub(crate) cluster: bool,
    pub(crate) prefix: String,
    pub(crate) clock: SharedClock,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) expiry_grace: Duration,
    pub(crate) max_payload: u64,
    /// The application's own connection, used instead of connecting.
    pub(crate) given: Option<Conn>,
    /// A root certificate (PEM) to trust for `rediss://`, instead of the
    /// public roots.
    pub(crate) tls_root: Option<Vec<u8>>,
}

impl RedisStoreBuilder {
    /// A builder from a store URL: `redis://[user:password@]host:port/db` or
    /// `rediss://…`, with the options `prefix=`, `cluster=true|false`,
    /// `connect_timeout_ms=`, `response_timeout_ms=`, `expiry_grace_ms=`,
    /// `max_payload=` and `tls_ca_file=` (a PEM file of the certificate
    /// authority to trust for `rediss://`, read now; needs the `tls`
    /// feature); the redis crate's own options (`protocol=resp3`,
    /// `db=`, and `user=`/`pass=` for a Unix socket) go to it as they are.
    /// Any other option is [`Error::Config`].
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
        let tls_root = match url.take("tls_ca_file") {
            Some(path) => Some(std::fs::read(&path).map_err(|e| Error::Config {
                message: format!("tls_ca_file: cannot read {path}: {e}"),
            })?),
            None => None,
        };
        // The redis crate's own options go to it as they are; any other is
        // an unknown option (the redis crate would ignore it silently).
        let rest: Vec<String> = REDIS_CRATE_OPTIONS
            .iter()
            .filter_map(|k| url.take(k).map(|v| format!("{k}={v}")))
            .collect();
        url.finish()?;
        let base = url.raw().split('?').next().unwrap_or(url.raw()).to_owned();
        let target = if rest.is_empty() { base } else { format!("{base}?{}", rest.join("&")) };
        let mut builder = RedisStore::builder(target);
        builder = apply(builder, prefix, Self::prefix);
        builder = apply(builder, cluster, Self::cluster);
        builder = apply(builder, connect, Self::connect_timeout);
        builder = apply(builder, response, Self::response_timeout);
        builder = apply(builder, grace, Self::expiry_grace);
        builder.tls_root = tls_root;
        Ok(apply(builder, max_payload, Self::max_payload))
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

    /// Trusts this certificate authority (PEM) for `rediss://` instead of
    /// the public roots: a server with a private or self-signed
    /// certificate. The URL option is `tls_ca_file=/path/ca.pem`. Needs the
    /// `tls` feature; without it opening a store with one is
    /// [`Error::Config`].
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// Uses the application's own connection to a single node instead of
    /// connecting: the store and the application share it (and its
    /// reconnects). The URL then only names the server in messages.
    pub fn connection(mut self, conn: redis::aio::ConnectionManager) -> Self {
        (self.given, self.cluster) = (Some(Conn::Single(conn)), false);
        self
    }

    /// Uses the application's own connection to a Redis Cluster instead of
    /// connecting (see [`connection`](Self::connection)).
    pub fn cluster_connection(mut self, conn: redis::cluster_async::ClusterConnection) -> Self {
        (self.given, self.cluster) = (Some(Conn::Cluster(conn)), true);
        self
    }

    /// Connects. Fails with [`Error::Unavailable`] when the server cannot be
    /// reached within the connect timeout, and with [`Error::Config`] on a
    /// bad URL or failed authentication.
    pub async fn open(self) -> Result<RedisStore> {
        let store = self.open_lazy()?;
        // Fail now, not at the first operation, on a wrong password.
        store.query::<String>(&redis::cmd("PING"), "checking the connection").await?;
        Ok(store)
    }

    /// The store, without connecting yet: the first operation connects, on
    /// the runtime it runs on (and a failed attempt is retried by the next
    /// operation). Never blocks and needs no runtime, so it can be called
    /// anywhere, from a current-thread runtime as from none; an unreachable
    /// server or a wrong password shows at the first operation instead of
    /// here. A bad URL or option is [`Error::Config`] at once.
    pub fn open_lazy(self) -> Result<RedisStore> {
        cachestore_core::raw::builder::check_max_payload(self.max_payload, 512 << 20)?;
        if !cfg!(feature = "tls") && self.url.starts_with("rediss://") {
            return Err(Error::Config {
                message: "rediss:// (TLS) needs cachestore-redis's `tls` feature (the facade's \
                          `redis-tls`: cargo add cachestore --features redis-tls)"
                    .into(),
            });
        }
        if self.tls_root.is_some() && !cfg!(feature = "tls") {
            return Err(Error::Config {
                message: "a TLS root certificate needs cachestore-redis's `tls` feature \
                          (the facade's `redis-tls`)"
                    .into(),
            });
        }
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
        let connector = Connector {
            info,
            endpoint: endpoint.clone(),
            cluster: self.cluster,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            tls_root: self.tls_root,
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn: LazyConn::new(connector, self.given),
                endpoint,
                prefix: self.prefix,
                clock: self.clock,
                expiry_grace: self.expiry_grace,
                max_payload: self.max_payload,
                // Connecting (twice the connect timeout), then the first
                // try and two retries of the response timeout, and slack.
                deadline: self.connect_timeout * 2 + self.response_timeout * 4,
                purge: Script::new(PURGE),
                clear: Script::new(CLEAR),
                set_if: Script::new(SET_IF),
                touch: Script::new(TOUCH),
                tag_add: Script::new(TAG_ADD),
                invalidate: Script::new(INVALIDATE),
            }),
        })
    }
}

#[cfg(test)]
mod url_tests {
    use super::RedisStoreBuilder;
    use cachestore_core::Error;

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_without_the_tls_feature_names_the_feature() {
        let err = RedisStoreBuilder::from_url("rediss://h/0").and_then(|b| b.open_lazy());
        assert!(
            matches!(&err, Err(Error::Config { message }) if message.contains("redis-tls")),
            "{err:?}"
        );
    }

    #[test]
    fn from_url_takes_its_own_options_and_refuses_the_rest() {
        let _accepted = RedisStoreBuilder::from_url(
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
        // The redis crate's own options (`protocol=resp3` above) go to it;
        // any other is refused.
        assert!(matches!(
            RedisStoreBuilder::from_url("redis://h/0?colour=blue"),
            Err(Error::Config { .. })
        ));
    }
}
