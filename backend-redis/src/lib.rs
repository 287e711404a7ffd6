//! # cachestore-redis
//!
//! A [`CacheStore`] on Redis, single node or Redis Cluster: the store for
//! more than one machine, as correct as the embedded ones.
//!
//! - **Phases are judged by the store clock** from fields stored in each
//!   row; Redis only drops rows physically, with `PX = stale_until - now`
//!   (by the store clock, never an absolute time from this machine) plus a
//!   grace period ([`RedisStoreBuilder::expiry_grace`], default 60 s) so that
//!   clock skew between machines never drops a live row. A row already dead
//!   when written is removed, not kept.
//! - **Keys**: a row is the hash `{prefix}{hex(ns)}:r:{key}` (fields `s`
//!   stale_until, `e` expires_at, `m` stored_at, headers and a CRC-32, `p`
//!   payload); each namespace keeps its keys in the sorted set
//!   `{prefix}{hex(ns)}:i` (all scores 0, so lexicographic ranges are byte
//!   order) and the namespaces are listed in `{prefix}namespaces`. The hash
//!   tag `{hex(ns)}` puts a namespace's rows and index in one cluster slot;
//!   hex has no braces, so no two identities share a key. No `KEYS` command
//!   is ever used.
//! - **Atomic**: `set` and `delete` are MULTI/EXEC on one slot; `purge` and
//!   `clear` are Lua scripts per namespace. `get_many` and `set_many` are
//!   pipelined (on a single node `set_many` is one MULTI/EXEC: all or
//!   nothing).
//! - **Connections** reconnect by themselves (`ConnectionManager`, or the
//!   cluster client); connect and command timeouts come from the URL. A
//!   server that cannot be reached, and a cluster slot whose master is down
//!   or moving (for writes as for reads), is [`Error::Unavailable`]
//!   (retriable). A wrong password and a user without ACL permission for a
//!   command the store uses are [`Error::Config`] (not retriable: fix the
//!   credentials or grant the commands).
//! - **A failed write writes nothing**: Redis does not roll back a MULTI/EXEC
//!   whose command fails at run time, so every command is checked before it
//!   is sent (a physical expiry is capped at about 31,700 years, as Redis
//!   refuses a `PEXPIRE` past its clock's range).
//!
//! `purge_expired`, `stats` and `clear_all` visit every namespace's index:
//! O(rows). The namespace list only grows (removing a name could race a
//! concurrent first write to it); scanning an emptied namespace costs one
//! cheap call.
#![deny(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::raw::encoding::{checksum, decode_headers, encode_headers};
use cachestore_core::raw::{Phase, RowTimes, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Clock, Entry, Error, MIN_PAYLOAD_LIMIT, Page, Result,
    ScanCursor, ScanItem, SetItem, SetOptions, SharedClock, Stats, SystemClock, async_trait,
    check_identity, check_namespace,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, Script, Value};

/// The URL scheme of this backend: `redis://` (and `rediss://` with the
/// `tls` feature).
pub const SCHEME: &str = "redis";

/// The default payload limit: 64 MiB (Redis's own limit is 512 MB).
pub const DEFAULT_MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "cachestore:";

/// How long after `stale_until` Redis keeps a row by default.
pub const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(60);

const META_VERSION: u8 = 1;

const PURGE: &str = r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local now = tonumber(ARGV[2])
local n = 0
for _, m in ipairs(members) do
  local row = ARGV[1] .. m
  local s = redis.call('HGET', row, 's')
  if not s then
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  elseif s ~= '' and tonumber(s) <= now then
    redis.call('DEL', row)
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
";

const CLEAR: &str = r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local now = tonumber(ARGV[2])
local live = 0
for _, m in ipairs(members) do
  local row = ARGV[1] .. m
  local s = redis.call('HGET', row, 's')
  if s and (s == '' or tonumber(s) > now) then
    live = live + 1
  end
  redis.call('DEL', row)
end
redis.call('DEL', KEYS[1])
return live
";

/// Builds a [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    url: String,
    cluster: bool,
    prefix: String,
    clock: SharedClock,
    connect_timeout: Duration,
    response_timeout: Duration,
    expiry_grace: Duration,
    max_payload: u64,
}

impl RedisStoreBuilder {
    /// The clock every phase is judged by. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Treat the URL as a seed node of a Redis Cluster. Default: single node.
    pub fn cluster(mut self, on: bool) -> Self {
        self.cluster = on;
        self
    }

    /// The prefix of every key, so that stores can share a database.
    /// Default: [`DEFAULT_PREFIX`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait for a connection. Default: 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for a reply. Default: 5 s.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long after `stale_until` Redis keeps a row. Default:
    /// [`DEFAULT_EXPIRY_GRACE`].
    pub fn expiry_grace(mut self, grace: Duration) -> Self {
        self.expiry_grace = grace;
        self
    }

    /// The largest payload accepted. Default: [`DEFAULT_MAX_PAYLOAD`]; between
    /// 16 MiB and 512 MiB.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Connects. Fails with [`Error::Unavailable`] when the server cannot be
    /// reached within the connect timeout, and with [`Error::Config`] on a
    /// bad URL or failed authentication.
    pub async fn open(self) -> Result<RedisStore> {
        if !(MIN_PAYLOAD_LIMIT..=512 * 1024 * 1024).contains(&self.max_payload) {
            return Err(Error::Config {
                message: format!(
                    "max_payload is {} bytes; it must be between 16 MiB and 512 MiB",
                    self.max_payload
                ),
            });
        }
        let info: redis::ConnectionInfo =
            redis::IntoConnectionInfo::into_connection_info(self.url.as_str()).map_err(|e| {
                Error::Config { message: format!("{}: not a Redis URL: {e}", redacted(&self.url)) }
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

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

struct Inner {
    conn: Conn,
    endpoint: String,
    prefix: String,
    clock: SharedClock,
    expiry_grace: Duration,
    max_payload: u64,
    purge: Script,
    clear: Script,
}

/// A store on Redis. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.inner.endpoint)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// The server part of a URL, without credentials.
fn endpoint(info: &redis::ConnectionInfo) -> String {
    info.addr().to_string()
}

/// A URL with any password replaced.
fn redacted(url: &str) -> String {
    cachestore_core::redact_url(url)
}

fn timeout(endpoint: &str, after: Duration) -> Error {
    Error::Unavailable {
        endpoint: endpoint.to_owned(),
        source: format!("no connection within {after:?}").into(),
    }
}

/// The longest physical expiry the store asks of Redis (about 31,700 years):
/// Redis refuses a `PEXPIRE` whose end passes the i64 milliseconds limit.
const MAX_PX: i64 = 1_000_000_000_000_000;

/// Maps a Redis error: unreachable servers, a cluster without a master for
/// a slot, a node that is loading or failing over are `Unavailable`
/// (retriable); authentication failures and ACL refusals a `Config` error
/// that says what to check; the rest `Backend`.
fn classify(endpoint: &str, operation: &str, e: RedisError) -> Error {
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.to_string().contains("WRONGPASS")
        || e.to_string().contains("NOAUTH")
    {
        return Error::Config {
            message: format!(
                "Redis at {endpoint} refused the credentials ({e}); check the user and password in the URL"
            ),
        };
    }
    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) {
        return Error::Config {
            message: format!(
                "Redis at {endpoint} refused {operation}: the user has no permission for a \
                 command the store uses ({e}). Grant it read, write, keyspace and scripting \
                 commands (for example `ACL SETUSER <user> +@read +@write +@keyspace \
                 +@scripting`)"
            ),
        };
    }
    // What the redis crate would retry (reconnect, wait, re-route) is
    // retriable for the caller too; a reply it cannot parse is not. A
    // MULTI/EXEC aborted because its slot moved or its node is failing over
    // (a dead master) is as transient as the same error on a read.
    let transient = e.kind() != redis::ErrorKind::Parse
        && !matches!(e.retry_method(), redis::RetryMethod::NoRetry)
        || e.clone().into_server_errors().is_some_and(|errors| {
            errors.iter().any(|(_, err)| {
                use redis::ServerErrorKind as K;
                matches!(
                    err.kind(),
                    Some(
                        K::Moved
                            | K::Ask
                            | K::TryAgain
                            | K::ClusterDown
                            | K::MasterDown
                            | K::BusyLoading
                            | K::ReadOnly
                    )
                )
            })
        });
    if transient
        || e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
    {
        return Error::Unavailable { endpoint: endpoint.to_owned(), source: Box::new(e) };
    }
    Error::Backend {
        backend: "redis",
        operation: format!("{operation} ({endpoint})"),
        source: Box::new(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn opt_ms(v: Option<i64>) -> String {
    v.map(|t| t.to_string()).unwrap_or_default()
}

/// The reply to `HMGET row s e m p`.
type Fields = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// A row ready to write.
struct NewRow {
    ns: String,
    key: String,
    times: RowTimes,
    headers: Vec<u8>,
    payload: Bytes,
}

/// The last item for each identity, in their order: all that a sequence of
/// sets leaves behind.
fn last_per_identity(items: Vec<NewRow>) -> Vec<NewRow> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<NewRow> =
        items.into_iter().rev().filter(|r| seen.insert((r.ns.clone(), r.key.clone()))).collect();
    last.reverse();
    last
}

/// What a row read back holds.
struct Raw {
    stale: Option<Vec<u8>>,
    expires: Option<Vec<u8>>,
    meta: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

impl From<Fields> for Raw {
    fn from((stale, expires, meta, payload): Fields) -> Raw {
        Raw { stale, expires, meta, payload }
    }
}

impl RedisStore {
    /// A builder for the store at `url` (`redis://[user:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            cluster: false,
            prefix: DEFAULT_PREFIX.to_owned(),
            clock: Arc::new(SystemClock),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            expiry_grace: DEFAULT_EXPIRY_GRACE,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// The prefix of this store's keys.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The server, without credentials.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Connects to `url` with the default options.
    pub async fn open(url: impl Into<String>) -> Result<RedisStore> {
        Self::builder(url).open().await
    }

    fn tag(&self, ns: &str) -> String {
        format!("{}{{{}}}", self.inner.prefix, hex(ns.as_bytes()))
    }

    fn row_prefix(&self, ns: &str) -> String {
        format!("{}:r:", self.tag(ns))
    }

    fn row_key(&self, ns: &str, key: &str) -> Vec<u8> {
        let mut k = self.row_prefix(ns).into_bytes();
        k.extend_from_slice(key.as_bytes());
        k
    }

    fn index_key(&self, ns: &str) -> String {
        format!("{}:i", self.tag(ns))
    }

    fn registry(&self) -> String {
        format!("{}namespaces", self.inner.prefix)
    }

    fn err(&self, operation: &str, e: RedisError) -> Error {
        classify(&self.inner.endpoint, operation, e)
    }

    fn corrupt(&self, ns: &str, key: &str, detail: impl Into<String>) -> Error {
        Error::corrupt_row(&format!("redis {}", self.inner.endpoint), ns, key, detail)
    }

    fn now(&self) -> Result<i64> {
        to_unix_millis(self.inner.clock.now())
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, operation: &str) -> Result<T> {
        let result = match self.inner.conn.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(|e| self.err(operation, e))
    }

    async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline, operation: &str) -> Result<T> {
        let result = match self.inner.conn.clone() {
            Conn::Single(mut c) => pipe.query_async(&mut c).await,
            Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
        };
        result.map_err(|e| self.err(operation, e))
    }

    async fn script(&self, script: &Script, ns: &str, now: i64, operation: &str) -> Result<u64> {
        let mut invocation = script.key(self.index_key(ns));
        invocation.arg(self.row_prefix(ns)).arg(now);
        let result = match self.inner.conn.clone() {
            Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        };
        result.map_err(|e| self.err(operation, e))
    }

    fn hmget(&self, pipe: &mut Pipeline, ns: &str, key: &str) {
        pipe.cmd("HMGET").arg(self.row_key(ns, key)).arg("s").arg("e").arg("m").arg("p");
    }

    /// Decodes a row and judges it at `now`: `Some` when its phase is wanted.
    fn decode(
        &self,
        ns: &str,
        key: &str,
        raw: Raw,
        now: i64,
        stale_ok: bool,
    ) -> Result<Option<Entry>> {
        let (Some(stale), Some(expires), Some(meta), Some(payload)) =
            (raw.stale, raw.expires, raw.meta, raw.payload)
        else {
            return Ok(None);
        };
        let bad = |d: &str| self.corrupt(ns, key, d);
        let parse = |v: &[u8]| -> Result<Option<i64>> {
            if v.is_empty() {
                return Ok(None);
            }
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| bad("a time field is not a number"))
        };
        let (stale_until, expires_at) = (parse(&stale)?, parse(&expires)?);
        if meta.len() < 13 || meta[0] != META_VERSION {
            return Err(bad("unknown row format"));
        }
        let stored_at = i64::from_le_bytes(meta[5..13].try_into().map_err(|_| bad("short meta"))?);
        let times = RowTimes { stored_at, expires_at, stale_until };
        times.check().map_err(bad)?;
        let headers_blob = &meta[13..];
        let sum = u32::from_le_bytes(meta[1..5].try_into().map_err(|_| bad("short meta"))?);
        if checksum(ns.as_bytes(), key.as_bytes(), &times, headers_blob, &payload) != sum {
            return Err(bad("checksum mismatch: the row was changed outside cachestore"));
        }
        match times.phase(now) {
            Phase::Fresh => {}
            Phase::Stale if stale_ok => {}
            _ => return Ok(None),
        }
        let headers = decode_headers(headers_blob)
            .map_err(|d| self.corrupt(ns, key, format!("headers: {d}")))?;
        Entry::from_parts(Bytes::from(payload), headers, times)
            .map(Some)
            .ok_or_else(|| bad("a time is out of range"))
    }

    async fn read(&self, ns: &str, key: &str, stale_ok: bool) -> Result<Option<Entry>> {
        check_identity(ns, key)?;
        let now = self.now()?;
        let mut pipe = redis::pipe();
        self.hmget(&mut pipe, ns, key);
        let (fields,): (Fields,) = self.pipeline(&pipe, "reading").await?;
        self.decode(ns, key, fields.into(), now, stale_ok)
    }

    /// The commands that write one row atomically (MULTI/EXEC on one slot).
    fn write_row(&self, pipe: &mut Pipeline, r: &NewRow, now: i64) {
        let (ns, key, times, headers, payload) =
            (&r.ns, &r.key, &r.times, &r.headers, &r.payload[..]);
        let row = self.row_key(ns, key);
        let index = self.index_key(ns);
        pipe.cmd("DEL").arg(&row).ignore();
        if !times.phase(now).is_live() {
            // Already dead: not kept, and the old row is gone too.
            pipe.cmd("ZREM").arg(&index).arg(key).ignore();
            return;
        }
        let mut meta = Vec::with_capacity(13 + headers.len());
        meta.push(META_VERSION);
        meta.extend_from_slice(
            &checksum(ns.as_bytes(), key.as_bytes(), times, headers, payload).to_le_bytes(),
        );
        meta.extend_from_slice(&times.stored_at.to_le_bytes());
        meta.extend_from_slice(headers);
        pipe.cmd("HSET")
            .arg(&row)
            .arg("s")
            .arg(opt_ms(times.stale_until))
            .arg("e")
            .arg(opt_ms(times.expires_at))
            .arg("m")
            .arg(meta)
            .arg("p")
            .arg(payload)
            .ignore();
        if let Some(stale_until) = times.stale_until {
            let grace = i64::try_from(self.inner.expiry_grace.as_millis()).unwrap_or(i64::MAX);
            // Redis adds its own clock to PX and refuses a sum past i64: and
            // inside MULTI/EXEC the refusal would come after the row was
            // written. Past 31,700 years a row is kept as good as forever.
            let px = stale_until.saturating_sub(now).saturating_add(grace).clamp(1, MAX_PX);
            pipe.cmd("PEXPIRE").arg(&row).arg(px).ignore();
        }
        pipe.cmd("ZADD").arg(&index).arg(0).arg(key).ignore();
    }

    async fn namespaces(&self, from: Option<&str>) -> Result<Vec<String>> {
        let start = from.map_or_else(|| b"-".to_vec(), |ns| [b"[", ns.as_bytes()].concat());
        let names: Vec<Vec<u8>> = self
            .query(
                redis::cmd("ZRANGEBYLEX").arg(self.registry()).arg(start).arg("+"),
                "listing namespaces",
            )
            .await?;
        names
            .into_iter()
            .map(|n| {
                String::from_utf8(n).map_err(|_| self.corrupt("?", "?", "a namespace is not UTF-8"))
            })
            .collect()
    }

    async fn write_many(&self, items: Vec<NewRow>) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let now = self.now()?;
        let mut registry = redis::pipe();
        for row in &items {
            registry.cmd("ZADD").arg(self.registry()).arg(0).arg(&row.ns).ignore();
        }
        self.pipeline::<()>(&registry, "registering namespaces").await?;
        match &self.inner.conn {
            Conn::Single(_) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for row in &items {
                    self.write_row(&mut pipe, row, now);
                }
                self.pipeline::<()>(&pipe, "writing rows").await
            }
            Conn::Cluster(_) => {
                // Rows of different namespaces live on different nodes: one
                // MULTI/EXEC per row, all in flight together. Writes in flight
                // together may land in any order, so only the last item for
                // each identity is written: that is all a sequence of sets
                // leaves behind.
                let mut tasks = tokio::task::JoinSet::new();
                for row in last_per_identity(items) {
                    let store = self.clone();
                    tasks.spawn(async move {
                        let mut pipe = redis::pipe();
                        pipe.atomic();
                        store.write_row(&mut pipe, &row, now);
                        store.pipeline::<()>(&pipe, "writing a row").await
                    });
                }
                while let Some(result) = tasks.join_next().await {
                    result.map_err(|e| Error::backend("redis", "joining a write", e))??;
                }
                Ok(())
            }
        }
    }

    fn prepare(
        &self,
        ns: String,
        key: String,
        payload: Bytes,
        options: &SetOptions,
    ) -> Result<NewRow> {
        let times = prepare_write(
            self.inner.clock.as_ref(),
            self.inner.max_payload,
            &ns,
            &key,
            &payload,
            options,
        )?;
        Ok(NewRow { ns, key, times, headers: encode_headers(&options.headers), payload })
    }
}

#[async_trait]
impl CacheStore for RedisStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, false).await
    }

    async fn get_stale(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.read(namespace, key, true).await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
    ) -> Result<()> {
        check_identity(namespace, key)?;
        let row = self.prepare(namespace.to_owned(), key.to_owned(), payload, &options)?;
        self.write_many(vec![row]).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        check_identity(namespace, key)?;
        let now = self.now()?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGET")
            .arg(self.row_key(namespace, key))
            .arg("s")
            .cmd("DEL")
            .arg(self.row_key(namespace, key))
            .ignore()
            .cmd("ZREM")
            .arg(self.index_key(namespace))
            .arg(key)
            .ignore();
        let (stale,): (Option<Vec<u8>>,) = self.pipeline(&pipe, "deleting").await?;
        Ok(match stale {
            None => false,
            Some(s) if s.is_empty() => true,
            Some(s) => std::str::from_utf8(&s)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .is_some_and(|s| now < s),
        })
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now()?;
        let mut n = 0;
        for ns in self.namespaces(None).await? {
            n += self.script(&self.inner.purge, &ns, now, "purging").await?;
        }
        Ok(n)
    }

    async fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        check_namespace(namespace)?;
        let now = self.now()?;
        self.script(&self.inner.clear, namespace, now, "clearing").await
    }

    async fn clear_all(&self) -> Result<u64> {
        let now = self.now()?;
        let mut n = 0;
        for ns in self.namespaces(None).await? {
            n += self.script(&self.inner.clear, &ns, now, "clearing").await?;
        }
        Ok(n)
    }

    async fn get_many(&self, ids: &[(&str, &str)]) -> Result<Vec<Option<Entry>>> {
        for (ns, key) in ids {
            check_identity(ns, key)?;
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now()?;
        let rows: Vec<(Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>)> =
            match &self.inner.conn {
                Conn::Single(_) => {
                    let mut pipe = redis::pipe();
                    for (ns, key) in ids {
                        self.hmget(&mut pipe, ns, key);
                    }
                    self.pipeline(&pipe, "reading").await?
                }
                Conn::Cluster(_) => {
                    let mut out = Vec::with_capacity(ids.len());
                    for (ns, key) in ids {
                        let mut pipe = redis::pipe();
                        self.hmget(&mut pipe, ns, key);
                        let (row,): ((
                            Option<Vec<u8>>,
                            Option<Vec<u8>>,
                            Option<Vec<u8>>,
                            Option<Vec<u8>>,
                        ),) = self.pipeline(&pipe, "reading").await?;
                        out.push(row);
                    }
                    out
                }
            };
        ids.iter()
            .zip(rows)
            .map(|((ns, key), fields)| self.decode(ns, key, fields.into(), now, false))
            .collect()
    }

    async fn set_many(&self, items: Vec<SetItem>) -> Result<()> {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            check_identity(&item.namespace, &item.key)?;
            rows.push(self.prepare(item.namespace, item.key, item.payload, &item.options)?);
        }
        self.write_many(rows).await
    }

    async fn scan(
        &self,
        namespace: Option<&str>,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<Page> {
        if let Some(ns) = namespace {
            check_namespace(ns)?;
        }
        let limit = limit.max(1);
        let now = self.now()?;
        let namespaces = match namespace {
            Some(ns) if after.is_some_and(|c| c.namespace.as_str() > ns) => {
                return Ok(Page::default());
            }
            Some(ns) => vec![ns.to_owned()],
            None => self.namespaces(after.map(|c| c.namespace.as_str())).await?,
        };
        let mut items: Vec<ScanItem> = Vec::new();
        let mut more = false;
        'namespaces: for ns in namespaces {
            let mut start = match after {
                Some(c) if c.namespace == ns => [b"(", c.key.as_bytes()].concat(),
                _ => b"-".to_vec(),
            };
            loop {
                // Batches of at most 1,000 keys, whatever the limit.
                let want = limit.saturating_add(1).saturating_sub(items.len()).clamp(16, 1_000);
                let keys: Vec<Vec<u8>> = self
                    .query(
                        redis::cmd("ZRANGEBYLEX")
                            .arg(self.index_key(&ns))
                            .arg(&start)
                            .arg("+")
                            .arg("LIMIT")
                            .arg(0)
                            .arg(want),
                        "scanning",
                    )
                    .await?;
                if keys.is_empty() {
                    break;
                }
                let mut pipe = redis::pipe();
                let keys: Vec<String> = keys
                    .into_iter()
                    .map(|k| {
                        String::from_utf8(k)
                            .map_err(|_| self.corrupt(&ns, "?", "a key is not UTF-8"))
                    })
                    .collect::<Result<_>>()?;
                for key in &keys {
                    self.hmget(&mut pipe, &ns, key);
                }
                let rows: Vec<(
                    Option<Vec<u8>>,
                    Option<Vec<u8>>,
                    Option<Vec<u8>>,
                    Option<Vec<u8>>,
                )> = self.pipeline(&pipe, "scanning").await?;
                for (key, (stale, expires, meta, payload)) in keys.iter().zip(rows) {
                    if let Some(entry) =
                        self.decode(&ns, key, Raw { stale, expires, meta, payload }, now, true)?
                    {
                        if items.len() == limit {
                            more = true;
                            break 'namespaces;
                        }
                        items.push(ScanItem { namespace: ns.clone(), key: key.clone(), entry });
                    }
                }
                let last = keys.last().map(String::as_bytes).unwrap_or_default();
                start = [b"(", last].concat();
                if keys.len() < want {
                    break;
                }
            }
        }
        Ok(Page::from_items(items, more))
    }

    async fn stats(&self) -> Result<Stats> {
        let now = self.now()?;
        let mut stats = Stats::new(true);
        for ns in self.namespaces(None).await? {
            let keys: Vec<Vec<u8>> = self
                .query(
                    redis::cmd("ZRANGE").arg(self.index_key(&ns)).arg(0).arg(-1),
                    "computing stats",
                )
                .await?;
            if keys.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for key in &keys {
                let mut row = self.row_prefix(&ns).into_bytes();
                row.extend_from_slice(key);
                pipe.cmd("HMGET").arg(&row).arg("s").arg("e");
                pipe.cmd("HSTRLEN").arg(&row).arg("p");
            }
            let values: Vec<Value> = self.pipeline(&pipe, "computing stats").await?;
            for pair in values.chunks(2) {
                let [fields, len] = pair else { continue };
                let (stale, expires): (Option<String>, Option<String>) =
                    FromRedisValue::from_redis_value(fields.clone())
                        .map_err(|e| self.err("computing stats", e.into()))?;
                let len: u64 = FromRedisValue::from_redis_value(len.clone())
                    .map_err(|e| self.err("computing stats", e.into()))?;
                let (Some(stale), Some(expires)) = (stale, expires) else { continue };
                let ms = |s: &str| if s.is_empty() { None } else { s.parse::<i64>().ok() };
                let times =
                    RowTimes { stored_at: 0, expires_at: ms(&expires), stale_until: ms(&stale) };
                stats.record(&ns, times.phase(now), len);
            }
        }
        Ok(stats)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_multi_process(true)
            .with_atomic_batch(matches!(self.inner.conn, Conn::Single(_)))
            .with_exact_stats(true)
            .with_self_expiring(true)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(b""), "");
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex("é".as_bytes()), "c3a9");
    }

    #[test]
    fn only_the_last_item_per_identity_is_kept_in_order() {
        let row = |ns: &str, key: &str, v: &'static str| NewRow {
            ns: ns.into(),
            key: key.into(),
            times: RowTimes { stored_at: 0, expires_at: None, stale_until: None },
            headers: Vec::new(),
            payload: Bytes::from_static(v.as_bytes()),
        };
        let kept = last_per_identity(vec![
            row("a", "k", "1"),
            row("b", "k", "2"),
            row("a", "k", "3"),
            row("a", "j", "4"),
            row("a:b", "k", "5"),
            row("a", "k", "6"),
        ]);
        let got: Vec<(&str, &str, &[u8])> =
            kept.iter().map(|r| (r.ns.as_str(), r.key.as_str(), &r.payload[..])).collect();
        assert_eq!(
            got,
            vec![("b", "k", &b"2"[..]), ("a", "j", b"4"), ("a:b", "k", b"5"), ("a", "k", b"6")]
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redacted("redis://user:secret@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(redacted("redis://host:6379/"), "redis://host:6379/");
    }
}
