//! The store and its `CacheStore` implementation.

use std::sync::Arc;
use std::time::Duration;

use cachestore_core::raw::encoding::{
    checksum, checksum_tagged, decode_headers, decode_tags, encode_headers, encode_tags,
    tags_blob_contains,
};
use cachestore_core::raw::{Phase, RowTimes, ScanRange, prepare_write, to_unix_millis};
use cachestore_core::{
    Bytes, CacheStore, Capabilities, Condition, Entry, Error, Headers, Page, Result, ScanCursor,
    ScanItem, SetItem, SetOptions, SharedClock, Stats, SystemClock, TouchOptions, WriteOutcome,
    async_trait, check_identity, check_namespace, check_tag,
};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, Script, Value};

use crate::builder::RedisStoreBuilder;
use crate::config::{DEFAULT_EXPIRY_GRACE, DEFAULT_MAX_PAYLOAD, DEFAULT_PREFIX, MAX_PX};
use crate::connection::LazyConn;
use crate::error::classify;
use crate::row::{Fields, NewRow, Raw, last_per_identity, opt_ms};
use crate::schema::{INDEX_BATCH, META_TAGGED, META_VERSION, hex};

pub(crate) struct Inner {
    pub(crate) conn: LazyConn,
    pub(crate) endpoint: String,
    pub(crate) prefix: String,
    pub(crate) clock: SharedClock,
    pub(crate) expiry_grace: Duration,
    pub(crate) max_payload: u64,
    /// The longest any one call may take, connecting and the redis crate's
    /// retries included.
    pub(crate) deadline: Duration,
    pub(crate) purge: Script,
    pub(crate) clear: Script,
    pub(crate) set_if: Script,
    pub(crate) touch: Script,
    pub(crate) tag_add: Script,
    pub(crate) invalidate: Script,
}

/// A store on Redis. Cheap to clone: clones share the connection.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore_core::Result<()> {
/// use std::time::Duration;
/// use cachestore_core::{Bytes, CacheStore, SetOptions};
/// use cachestore_redis::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379/0").prefix("myapp:").open().await?;
/// let minute = SetOptions::for_duration(Duration::from_secs(60));
/// store.set("sessions", "abc", Bytes::from_static(b"{}"), minute).await?;
/// assert!(store.get("sessions", "abc").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
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
pub(crate) fn endpoint(info: &redis::ConnectionInfo) -> String {
    info.addr().to_string()
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
            given: None,
            tls_root: None,
        }
    }

    /// A builder on the application's own connection to a single node
    /// (shared with the store; `url` names the server in messages):
    /// `RedisStore::from_connection(url, conn).prefix("app:").open().await`.
    pub fn from_connection(
        url: impl Into<String>,
        conn: redis::aio::ConnectionManager,
    ) -> RedisStoreBuilder {
        Self::builder(url).connection(conn)
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

    /// The set of a tag's rows (its own slot on a cluster).
    fn tag_set(&self, tag: &str) -> String {
        format!("{}{{g:{}}}", self.inner.prefix, hex(tag.as_bytes()))
    }

    /// A row's member in its tags' sets: `hex(namespace):key`.
    fn tag_member(ns: &str, key: &str) -> Vec<u8> {
        let mut m = hex(ns.as_bytes()).into_bytes();
        m.push(b':');
        m.extend_from_slice(key.as_bytes());
        m
    }

    /// The identity of a tag set's member; `None` for one not of ours.
    fn parse_member(member: &[u8]) -> Option<(String, String)> {
        let colon = member.iter().position(|&b| b == b':')?;
        let (ns_hex, key) = (&member[..colon], &member[colon + 1..]);
        if ns_hex.len() % 2 != 0 {
            return None;
        }
        let ns: Option<Vec<u8>> = ns_hex
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
        Some((String::from_utf8(ns?).ok()?, String::from_utf8(key.to_vec()).ok()?))
    }

    /// Adds a row to the sets of its tags (each kept as long as the row),
    /// all in flight together. Called before and after the row is written
    /// (see `invalidate_tag`).
    async fn add_to_tag_sets(&self, r: &NewRow, now: i64) -> Result<()> {
        if r.tag_list.is_empty() || !r.times.phase(now).is_live() {
            return Ok(());
        }
        let member = Self::tag_member(&r.ns, &r.key);
        let px = self.px(&r.times, now).unwrap_or(-1);
        let calls = r.tag_list.iter().map(|tag| {
            let mut invocation = self.inner.tag_add.key(self.tag_set(tag));
            invocation.arg(&member).arg(px);
            async move { self.invoke::<i64>(&invocation, "indexing a row's tags").await }
        });
        for result in futures_util::future::join_all(calls).await {
            result?;
        }
        Ok(())
    }

    fn registry(&self) -> String {
        format!("{}namespaces", self.inner.prefix)
    }

    /// The counter every write takes its row versions from (CONTRACT.md §7).
    fn versions(&self) -> String {
        format!("{}versions", self.inner.prefix)
    }

    /// The PEXPIRE of a row with `times` written at `now`: `None` for a row
    /// that never dies. Redis adds its own clock to PX and refuses a sum
    /// past i64 (and inside MULTI/EXEC the refusal would come after the row
    /// was written): past 31,700 years a row is kept as good as forever.
    fn px(&self, times: &RowTimes, now: i64) -> Option<i64> {
        let stale_until = times.stale_until?;
        let grace = i64::try_from(self.inner.expiry_grace.as_millis()).unwrap_or(i64::MAX);
        Some(stale_until.saturating_sub(now).saturating_add(grace).clamp(1, MAX_PX))
    }

    /// The PEXPIRE argument of the scripts: ms, empty for never, `dead`.
    fn px_arg(&self, times: &RowTimes, now: i64) -> String {
        if !times.phase(now).is_live() {
            return "dead".into();
        }
        self.px(times, now).map(|px| px.to_string()).unwrap_or_default()
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

    /// Runs one call to Redis within the store's deadline. The redis
    /// crate's own timeouts and retries come first; this makes sure no call
    /// can outlast them (one did: a cluster call with a master just killed
    /// hung the test that checks it fails).
    async fn bounded<T>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.inner.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::Unavailable {
                endpoint: self.inner.endpoint.clone(),
                source: format!("no answer while {operation} within {:?}", self.inner.deadline)
                    .into(),
            }),
        }
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd, operation: &str) -> Result<T> {
        self.bounded(operation, async {
            let mut conn = self.inner.conn.get().await?;
            cmd.query_async(&mut conn).await.map_err(|e| self.err(operation, e))
        })
        .await
    }

    /// Runs a script invocation within the store's deadline.
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        operation: &str,
    ) -> Result<T> {
        self.bounded(operation, async {
            let mut conn = self.inner.conn.get().await?;
            invocation.invoke_async(&mut conn).await.map_err(|e| self.err(operation, e))
        })
        .await
    }

    async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline, operation: &str) -> Result<T> {
        self.bounded(operation, async {
            let mut conn = self.inner.conn.get().await?;
            pipe.query_async(&mut conn).await.map_err(|e| self.err(operation, e))
        })
        .await
    }

    /// The next batch of at most [`INDEX_BATCH`] members of `ns`'s index
    /// after `after` (from the start when `None`), in byte order; `after`
    /// moves to the batch's last member.
    async fn index_batch(
        &self,
        ns: &str,
        after: &mut Option<Vec<u8>>,
        operation: &str,
    ) -> Result<Vec<Vec<u8>>> {
        let start = after.as_ref().map_or_else(|| b"-".to_vec(), |m| [b"(", &m[..]].concat());
        let keys: Vec<Vec<u8>> = self
            .query(
                redis::cmd("ZRANGEBYLEX")
                    .arg(self.index_key(ns))
                    .arg(start)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(INDEX_BATCH),
                operation,
            )
            .await?;
        if let Some(last) = keys.last() {
            *after = Some(last.clone());
        }
        Ok(keys)
    }

    /// Runs a purge or clear script over `ns`'s index, a batch per server
    /// call; the sum of its answers.
    async fn script(&self, script: &Script, ns: &str, now: i64, operation: &str) -> Result<u64> {
        let (mut after, mut total) = (None, 0);
        loop {
            let batch = self.index_batch(ns, &mut after, operation).await?;
            if batch.is_empty() {
                return Ok(total);
            }
            let full = batch.len() == INDEX_BATCH;
            let mut invocation = script.key(self.index_key(ns));
            invocation.arg(self.row_prefix(ns)).arg(now);
            for member in &batch {
                invocation.arg(member);
            }
            total += self.invoke::<u64>(&invocation, operation).await?;
            if !full {
                return Ok(total);
            }
        }
    }

    fn hmget(&self, pipe: &mut Pipeline, ns: &str, key: &str) {
        pipe.cmd("HMGET").arg(self.row_key(ns, key)).arg("s").arg("e").arg("m").arg("p").arg("g");
    }

    /// Checks a row's fields against its checksum: its times (`s` and `e`),
    /// version, headers blob and tags. `payload` is checked too when given
    /// (a format-2 row read for `touch` is checked without it: its meta
    /// holds the payload's crc, which the row checksum covers).
    fn check<'m>(
        &self,
        (ns, key): (&str, &str),
        (stale, expires): (&[u8], &[u8]),
        meta: &'m [u8],
        tags: &[u8],
        payload: Option<&[u8]>,
    ) -> Result<(RowTimes, u64, &'m [u8])> {
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
        let (stale_until, expires_at) = (parse(stale)?, parse(expires)?);
        let short = || bad("short meta");
        let bytes = |at: usize, n: usize| meta.get(at..at + n).ok_or_else(short);
        let word = |at: usize| -> Result<[u8; 8]> { bytes(at, 8)?.try_into().map_err(|_| short()) };
        let sum = u32::from_le_bytes(bytes(1, 4)?.try_into().map_err(|_| short())?);
        let stored_at = i64::from_le_bytes(word(5)?);
        let times = RowTimes { stored_at, expires_at, stale_until };
        times.check().map_err(bad)?;
        let mismatch = || bad("checksum mismatch: the row was changed outside cachestore");
        match meta.first() {
            Some(1) => {
                if !tags.is_empty() {
                    return Err(mismatch());
                }
                let headers = meta.get(13..).ok_or_else(short)?;
                let payload = payload.ok_or_else(short)?;
                if checksum(ns.as_bytes(), key.as_bytes(), &times, headers, payload) != sum {
                    return Err(mismatch());
                }
                Ok((times, 0, headers))
            }
            Some(&format @ (META_VERSION | META_TAGGED)) => {
                let version = u64::from_le_bytes(word(13)?);
                let payload_sum = bytes(21, 4)?;
                let headers = meta.get(25..).ok_or_else(short)?;
                let (n, k) = (ns.as_bytes(), key.as_bytes());
                if (format == META_TAGGED) == tags.is_empty()
                    || checksum_tagged(n, k, &times, version, headers, tags, payload_sum) != sum
                    || payload.is_some_and(|p| crc32fast::hash(p).to_le_bytes() != payload_sum)
                {
                    return Err(mismatch());
                }
                Ok((times, version, headers))
            }
            _ => Err(bad("unknown row format")),
        }
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
        let tags = raw.tags.unwrap_or_default();
        let (times, version, headers_blob) =
            self.check((ns, key), (&stale, &expires), &meta, &tags, Some(&payload))?;
        match times.phase(now) {
            Phase::Fresh => {}
            Phase::Stale if stale_ok => {}
            _ => return Ok(None),
        }
        let headers = decode_headers(headers_blob)
            .map_err(|d| self.corrupt(ns, key, format!("headers: {d}")))?;
        let tags = decode_tags(&tags).map_err(|d| self.corrupt(ns, key, format!("tags: {d}")))?;
        Entry::from_versioned_parts(Bytes::from(payload), headers, times, version)
            .map(|e| Some(e.with_tags(tags)))
            .ok_or_else(|| self.corrupt(ns, key, "a time is out of range"))
    }

    /// The headers of a row read for `touch` (its payload given only for a
    /// format-1 row), checked; `None` when it is not live at `now`.
    fn decode_meta(&self, ns: &str, key: &str, raw: Raw, now: i64) -> Result<Option<Headers>> {
        let (Some(stale), Some(expires), Some(meta)) = (raw.stale, raw.expires, raw.meta) else {
            return Ok(None);
        };
        let tags = raw.tags.unwrap_or_default();
        let (times, _, headers) =
            self.check((ns, key), (&stale, &expires), &meta, &tags, raw.payload.as_deref())?;
        if !times.phase(now).is_live() {
            return Ok(None);
        }
        decode_headers(headers)
            .map(Some)
            .map_err(|d| self.corrupt(ns, key, format!("headers: {d}")))
    }

    async fn read(&self, ns: &str, key: &str, stale_ok: bool) -> Result<Option<Entry>> {
        check_identity(ns, key)?;
        let now = self.now()?;
        let mut pipe = redis::pipe();
        self.hmget(&mut pipe, ns, key);
        let (fields,): (Fields,) = self.pipeline(&pipe, "reading").await?;
        self.decode(ns, key, fields.into(), now, stale_ok)
    }

    /// A row's meta, format 2 (see [`META_VERSION`]).
    fn meta(
        &self,
        (ns, key): (&str, &str),
        times: &RowTimes,
        version: u64,
        (headers, tags): (&[u8], &[u8]),
        payload_sum: [u8; 4],
    ) -> Vec<u8> {
        let (n, k) = (ns.as_bytes(), key.as_bytes());
        let sum = checksum_tagged(n, k, times, version, headers, tags, &payload_sum);
        let mut meta = Vec::with_capacity(25 + headers.len());
        meta.push(if tags.is_empty() { META_VERSION } else { META_TAGGED });
        meta.extend_from_slice(&sum.to_le_bytes());
        meta.extend_from_slice(&times.stored_at.to_le_bytes());
        meta.extend_from_slice(&version.to_le_bytes());
        meta.extend_from_slice(&payload_sum);
        meta.extend_from_slice(headers);
        meta
    }

    /// The commands that write one row atomically (MULTI/EXEC on one slot).
    fn write_row(&self, pipe: &mut Pipeline, r: &NewRow, now: i64, version: u64) {
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
        let sum = crc32fast::hash(payload).to_le_bytes();
        let meta = self.meta((ns, key), times, version, (headers, &r.tags), sum);
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
            .arg("v")
            .arg(version)
            .arg("t")
            .arg(times.stored_at)
            .ignore();
        if !r.tags.is_empty() {
            pipe.cmd("HSET").arg(&row).arg("g").arg(&r.tags).ignore();
        }
        if let Some(px) = self.px(times, now) {
            pipe.cmd("PEXPIRE").arg(&row).arg(px).ignore();
        }
        pipe.cmd("ZADD").arg(&index).arg(0).arg(key).ignore();
    }

    /// Registers the namespaces of `rows` and takes `rows.len()` versions,
    /// in one round trip; returns the first version.
    async fn register(&self, rows: &[&NewRow]) -> Result<u64> {
        let mut pipe = redis::pipe();
        for row in rows {
            pipe.cmd("ZADD").arg(self.registry()).arg(0).arg(&row.ns).ignore();
        }
        let mut incr = redis::cmd("INCRBY");
        incr.arg(self.versions()).arg(rows.len());
        let last: u64 = if self.inner.conn.is_cluster() {
            // Two slots: two calls, in flight together.
            let (registered, last) = tokio::join!(
                self.pipeline::<()>(&pipe, "registering namespaces"),
                self.query::<u64>(&incr, "taking row versions"),
            );
            registered?;
            last?
        } else {
            pipe.add_command(incr);
            let (last,): (u64,) = self.pipeline(&pipe, "registering namespaces").await?;
            last
        };
        Ok(last + 1 - rows.len() as u64)
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
        if !self.inner.conn.is_cluster() {
            let first = self.register(&items.iter().collect::<Vec<_>>()).await?;
            for row in &items {
                self.add_to_tag_sets(row, now).await?;
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (i, row) in items.iter().enumerate() {
                self.write_row(&mut pipe, row, now, first + i as u64);
            }
            self.pipeline::<()>(&pipe, "writing rows").await?;
            for row in &items {
                self.add_to_tag_sets(row, now).await?;
            }
            return Ok(());
        }
        let items = last_per_identity(items);
        let first = self.register(&items.iter().collect::<Vec<_>>()).await?;
        // Rows of different namespaces live on different nodes: one
        // MULTI/EXEC per row, all in flight together. Writes in flight
        // together may land in any order, so only the last item for
        // each identity is written: that is all a sequence of sets
        // leaves behind.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, row) in items.into_iter().enumerate() {
            let store = self.clone();
            let version = first + i as u64;
            tasks.spawn(async move {
                store.add_to_tag_sets(&row, now).await?;
                let mut pipe = redis::pipe();
                pipe.atomic();
                store.write_row(&mut pipe, &row, now, version);
                store.pipeline::<()>(&pipe, "writing a row").await?;
                store.add_to_tag_sets(&row, now).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.map_err(|e| Error::backend("redis", "joining a write", e))??;
        }
        Ok(())
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
        Ok(NewRow {
            ns,
            key,
            times,
            headers: encode_headers(&options.headers),
            tags: encode_tags(&options.tags),
            tag_list: options.tags.iter().cloned().collect(),
            payload,
        })
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

    async fn set(&self, ns: &str, key: &str, payload: Bytes, options: SetOptions) -> Result<()> {
        check_identity(ns, key)?;
        let row = self.prepare(ns.to_owned(), key.to_owned(), payload, &options)?;
        self.write_many(vec![row]).await
    }

    async fn set_if(
        &self,
        ns: &str,
        key: &str,
        payload: Bytes,
        options: SetOptions,
        condition: Condition,
    ) -> Result<WriteOutcome> {
        cachestore_core::raw::refuse_restore(&options)?;
        check_identity(ns, key)?;
        let row = self.prepare(ns.to_owned(), key.to_owned(), payload, &options)?;
        let now = self.now()?;
        let version = self.register(&[&row]).await?;
        let sum = crc32fast::hash(&row.payload).to_le_bytes();
        let meta = self.meta((ns, key), &row.times, version, (&row.headers, &row.tags), sum);
        self.add_to_tag_sets(&row, now).await?;
        let (kind, expected) = match condition {
            Condition::IfAbsent => ("a", String::new()),
            Condition::IfVersion(v) => ("v", v.to_string()),
        };
        let mut invocation = self.inner.set_if.key(self.row_key(ns, key));
        invocation
            .key(self.index_key(ns))
            .arg(kind)
            .arg(expected)
            .arg(now)
            .arg(opt_ms(row.times.stale_until))
            .arg(opt_ms(row.times.expires_at))
            .arg(meta)
            .arg(&row.payload[..])
            .arg(version)
            .arg(self.px_arg(&row.times, now))
            .arg(key)
            .arg(row.times.stored_at)
            .arg(&row.tags);
        let answer: Vec<Value> = self.invoke(&invocation, "a conditional write").await?;
        let bad = || self.corrupt(ns, key, "an unexpected answer to a conditional write");
        let written: i64 = answer
            .first()
            .and_then(|v| FromRedisValue::from_redis_value(v.clone()).ok())
            .ok_or_else(bad)?;
        if written == 1 {
            self.add_to_tag_sets(&row, now).await?;
            return Ok(WriteOutcome::Written { version });
        }
        let current: String = answer
            .get(1)
            .and_then(|v| FromRedisValue::from_redis_value(v.clone()).ok())
            .ok_or_else(bad)?;
        let current = if current.is_empty() {
            None
        } else {
            Some(
                current
                    .parse::<u64>()
                    .map_err(|_| self.corrupt(ns, key, "the version field is not a number"))?,
            )
        };
        Ok(WriteOutcome::NotWritten { current })
    }

    async fn touch(&self, ns: &str, key: &str, options: TouchOptions) -> Result<Option<u64>> {
        check_identity(ns, key)?;
        let times = RowTimes::resolve(self.inner.clock.now(), options.ttl, options.stale_for)?;
        let now = times.stored_at;
        let row_key = self.row_key(ns, key);
        // Read the row's meta and version, renew it if they did not change
        // meanwhile; a write in between sends us round again.
        for _ in 0..64 {
            let mut read = redis::cmd("HMGET");
            read.arg(&row_key).arg("s").arg("e").arg("m").arg("v").arg("g");
            let mut incr = redis::cmd("INCR");
            incr.arg(self.versions());
            type Read = (
                Option<Vec<u8>>,
                Option<Vec<u8>>,
                Option<Vec<u8>>,
                Option<String>,
                Option<Vec<u8>>,
            );
            // Two slots on a cluster: two calls, in flight together.
            let (fields, version) = tokio::join!(
                self.query::<Read>(&read, "reading a row to touch"),
                self.query::<u64>(&incr, "taking a row version"),
            );
            let ((stale, expires, meta, read_version, tags), version) = (fields?, version?);
            let (Some(stale), Some(expires), Some(meta)) = (stale, expires, meta) else {
                return Ok(None);
            };
            // Judge and check the row as a read does; the payload's crc comes
            // from a format-2 meta, or (format 1) from the payload, once.
            let payload_sum = match meta.first() {
                Some(&(META_VERSION | META_TAGGED)) => None,
                _ => {
                    let p: Option<Vec<u8>> = self
                        .query(redis::cmd("HGET").arg(&row_key).arg("p"), "reading a row to touch")
                        .await?;
                    Some(p.unwrap_or_default())
                }
            };
            let raw = Raw {
                stale: Some(stale),
                expires: Some(expires),
                meta: Some(meta.clone()),
                payload: payload_sum.clone(),
                tags: tags.clone(),
            };
            let payload_sum = match payload_sum {
                Some(p) => crc32fast::hash(&p).to_le_bytes(),
                None => {
                    let bytes =
                        meta.get(21..25).ok_or_else(|| self.corrupt(ns, key, "short meta"))?;
                    bytes.try_into().map_err(|_| self.corrupt(ns, key, "short meta"))?
                }
            };
            let Some(old) = self.decode_meta(ns, key, raw, now)? else { return Ok(None) };
            let headers = match &options.headers {
                Some(h) => encode_headers(h),
                None => encode_headers(&old),
            };
            let tags = tags.unwrap_or_default();
            let new_meta = self.meta((ns, key), &times, version, (&headers, &tags), payload_sum);
            let mut invocation = self.inner.touch.key(&row_key);
            invocation
                .key(self.index_key(ns))
                .arg(read_version.unwrap_or_else(|| "0".into()))
                .arg(opt_ms(times.stale_until))
                .arg(opt_ms(times.expires_at))
                .arg(new_meta)
                .arg(version)
                .arg(self.px_arg(&times, now))
                .arg(key)
                .arg(times.stored_at);
            let renewed: i64 = self.invoke(&invocation, "touching a row").await?;
            if renewed == 1 {
                return Ok(Some(version));
            }
        }
        Err(Error::Unavailable {
            endpoint: self.inner.endpoint.clone(),
            source: "the row changed under 64 touches in a row; try again".into(),
        })
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

    /// Takes the tag's members in batches with `SPOP` (so a member is
    /// handled once, whoever else invalidates the tag), reads each row's
    /// version and tags, and deletes those still carrying the tag with a
    /// script that checks the version first (a row written since is left:
    /// it was written during the call). Writers add a row to its tags' sets
    /// before and after writing it: a row written with the tag before this
    /// call started is in the set (the first add) and is deleted; one written
    /// while a batch was taken is added again (the second add) and stays
    /// tracked for the next invalidation.
    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        check_tag(tag)?;
        let now = self.now()?;
        let set = self.tag_set(tag);
        let mut live = 0;
        loop {
            let members: Vec<Vec<u8>> =
                self.query(redis::cmd("SPOP").arg(&set).arg(500), "invalidating a tag").await?;
            if members.is_empty() {
                return Ok(live);
            }
            let ids: Vec<(String, String)> =
                members.iter().filter_map(|m| Self::parse_member(m)).collect();
            let reads = ids.iter().map(|(ns, key)| async move {
                let mut read = redis::cmd("HMGET");
                read.arg(self.row_key(ns, key)).arg("v").arg("g");
                self.query::<(Option<String>, Option<Vec<u8>>)>(&read, "invalidating a tag").await
            });
            let rows = futures_util::future::join_all(reads).await;
            let deletes = ids.iter().zip(rows).map(|((ns, key), row)| async move {
                let (Some(version), Some(tags)) = row? else { return Ok(0) };
                if !tags_blob_contains(&tags, tag) {
                    return Ok(0);
                }
                let mut invocation = self.inner.invalidate.key(self.row_key(ns, key));
                invocation.key(self.index_key(ns)).arg(version).arg(now).arg(key);
                self.invoke::<i64>(&invocation, "invalidating a tag").await
            });
            for answer in futures_util::future::join_all(deletes).await {
                live += u64::from(answer? == 1);
            }
        }
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
        let rows: Vec<Fields> = if self.inner.conn.is_cluster() {
            // Rows of different namespaces live on different nodes: one
            // read per row.
            let mut out = Vec::with_capacity(ids.len());
            for (ns, key) in ids {
                let mut pipe = redis::pipe();
                self.hmget(&mut pipe, ns, key);
                let (row,): (Fields,) = self.pipeline(&pipe, "reading").await?;
                out.push(row);
            }
            out
        } else {
            let mut pipe = redis::pipe();
            for (ns, key) in ids {
                self.hmget(&mut pipe, ns, key);
            }
            self.pipeline(&pipe, "reading").await?
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

    async fn scan(&self, ns: Option<&str>, at: Option<&ScanCursor>, limit: usize) -> Result<Page> {
        let Some(range) = ScanRange::new(ns, at)? else {
            return Ok(Page::default());
        };
        let limit = limit.max(1);
        let now = self.now()?;
        let namespaces = match range.namespace {
            Some(ns) => vec![ns.to_owned()],
            None => self.namespaces(range.after.map(|(ns, _)| ns)).await?,
        };
        let mut items: Vec<ScanItem> = Vec::new();
        let mut more = false;
        'namespaces: for ns in namespaces {
            let mut start = match range.after {
                Some((at, key)) if at == ns => [b"(", key.as_bytes()].concat(),
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
                let rows: Vec<Fields> = self.pipeline(&pipe, "scanning").await?;
                for (key, fields) in keys.iter().zip(rows) {
                    if let Some(entry) = self.decode(&ns, key, fields.into(), now, true)? {
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
            let mut after = None;
            loop {
                let keys = self.index_batch(&ns, &mut after, "computing stats").await?;
                if keys.is_empty() {
                    break;
                }
                let full = keys.len() == INDEX_BATCH;
                let rows: Vec<Vec<u8>> = keys
                    .iter()
                    .map(|key| [self.row_prefix(&ns).as_bytes(), key].concat())
                    .collect();
                let mut pipe = redis::pipe();
                for row in &rows {
                    pipe.cmd("HMGET").arg(row).arg("s").arg("e").arg("t");
                    pipe.cmd("HSTRLEN").arg(row).arg("p");
                }
                let values: Vec<Value> = self.pipeline(&pipe, "computing stats").await?;
                for (pair, row) in values.chunks(2).zip(&rows) {
                    let [fields, len] = pair else { continue };
                    let (stale, expires, stored): (Option<String>, Option<String>, Option<String>) =
                        FromRedisValue::from_redis_value(fields.clone())
                            .map_err(|e| self.err("computing stats", e.into()))?;
                    let len: u64 = FromRedisValue::from_redis_value(len.clone())
                        .map_err(|e| self.err("computing stats", e.into()))?;
                    let (Some(stale), Some(expires)) = (stale, expires) else { continue };
                    let ms = |s: &str| if s.is_empty() { None } else { s.parse::<i64>().ok() };
                    let stored_at = match stored.as_deref().and_then(ms) {
                        Some(t) => t,
                        // A format-1 row: its stored_at is in the meta.
                        None => {
                            let meta: Option<Vec<u8>> = self
                                .query(redis::cmd("HGET").arg(row).arg("m"), "computing stats")
                                .await?;
                            meta.as_deref()
                                .and_then(|m| m.get(5..13))
                                .and_then(|b| b.try_into().ok())
                                .map_or(0, i64::from_le_bytes)
                        }
                    };
                    let times =
                        RowTimes { stored_at, expires_at: ms(&expires), stale_until: ms(&stale) };
                    stats.record(&ns, times.phase(now), len, stored_at);
                }
                if !full {
                    break;
                }
            }
        }
        Ok(stats)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_multi_process(true)
            .with_atomic_batch(!self.inner.conn.is_cluster())
            .with_exact_stats(true)
            .with_self_expiring(true)
            .with_conditional_writes(true)
            .with_touch(true)
            .with_tags(true)
            .with_max_payload(self.inner.max_payload)
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachestore_core::redact_url as redacted;

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(b""), "");
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex("é".as_bytes()), "c3a9");
    }

    #[test]
    fn tag_members_round_trip_and_foreign_ones_are_refused() {
        for (ns, key) in [("a", "b"), ("a:b", "c:d"), ("é\0", ":")] {
            let member = RedisStore::tag_member(ns, key);
            assert_eq!(RedisStore::parse_member(&member), Some((ns.into(), key.into())));
        }
        for bad in [&b"nocolon"[..], b"6:k", b"zz:k", b"ff:k"] {
            assert_eq!(RedisStore::parse_member(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_last_item_per_identity_is_kept_in_order() {
        let row = |ns: &str, key: &str, v: &'static str| NewRow {
            ns: ns.into(),
            key: key.into(),
            times: RowTimes { stored_at: 0, expires_at: None, stale_until: None },
            headers: Vec::new(),
            tags: Vec::new(),
            tag_list: Vec::new(),
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
