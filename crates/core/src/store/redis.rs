//! Redis implementation of [`SessionStore`]: standalone (the redis crate's
//! `ConnectionManager`, which reconnects by itself) or Cluster. Every session's keys carry
//! a hash tag so one session lives in one Cluster slot.

use std::future::Future;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Cmd, Pipeline, RedisFuture, Value};

use super::{
    encode, keys, parse_message, BusEvent, Index, Revocation, SessionRecord, SessionStore,
    StoreError, Tombstone,
};
use crate::secret::SessionId;

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
}

/// A connection to the master that Sentinel names, re-resolved after a failover (an I/O
/// error, a dropped connection or `READONLY` from a demoted master).
#[derive(Clone)]
struct SentinelConn {
    client: std::sync::Arc<tokio::sync::Mutex<redis::sentinel::SentinelClient>>,
    conn: std::sync::Arc<tokio::sync::RwLock<Option<SentinelTarget>>>,
}

/// The connection and which master it goes to, re-checked against Sentinel at most once a
/// second so writes follow a failover even before the old master is demoted.
#[derive(Clone)]
struct SentinelTarget {
    conn: redis::aio::MultiplexedConnection,
    addr: String,
    checked: std::time::Instant,
}

const SENTINEL_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl SentinelConn {
    async fn master(&self) -> redis::RedisResult<redis::Client> {
        self.client.lock().await.async_get_client().await
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        if let Some(t) = self.conn.read().await.as_ref() {
            if t.checked.elapsed() < SENTINEL_RECHECK {
                return Ok(t.conn.clone());
            }
        }
        let mut slot = self.conn.write().await;
        let master = self.master().await?;
        let addr = master.get_connection_info().addr.to_string();
        if let Some(t) = slot.as_mut() {
            if t.addr == addr {
                t.checked = std::time::Instant::now();
                return Ok(t.conn.clone());
            }
            tracing::warn!(old = %t.addr, new = %addr, "Sentinel names a new master; reconnecting");
        }
        let cfg = redis::AsyncConnectionConfig::new()
            .set_tcp_settings(tcp_settings())
            .set_connection_timeout(std::time::Duration::from_secs(2))
            .set_response_timeout(std::time::Duration::from_secs(2));
        let conn = master
            .get_multiplexed_async_connection_with_config(&cfg)
            .await?;
        *slot = Some(SentinelTarget {
            conn: conn.clone(),
            addr,
            checked: std::time::Instant::now(),
        });
        Ok(conn)
    }

    fn failover_error(e: &redis::RedisError) -> bool {
        e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.kind() == redis::ErrorKind::ReadOnly
    }

    /// Send on the current master's connection; after a failover error, once more on a
    /// freshly resolved one.
    async fn send<T, F: Future<Output = redis::RedisResult<T>>>(
        &self,
        req: impl Fn(redis::aio::MultiplexedConnection) -> F,
    ) -> redis::RedisResult<T> {
        match req(self.connection().await?).await {
            Err(e) if Self::failover_error(&e) => {
                *self.conn.write().await = None;
                req(self.connection().await?).await
            }
            r => r,
        }
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.send(move |mut c| async move { c.req_packed_command(cmd).await }))
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(
            self.send(move |mut c| async move { c.req_packed_commands(cmd, offset, count).await }),
        )
    }
    fn get_db(&self) -> i64 {
        0
    }
}

impl Conn {
    fn inner(&mut self) -> &mut (dyn ConnectionLike + Send) {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c,
            Conn::Sentinel(c) => c,
        }
    }
}

/// Every command the store sends passes here: timed into
/// `sso_redis_command_duration_seconds`.
fn timed<'a, T: 'a>(fut: RedisFuture<'a, T>) -> RedisFuture<'a, T> {
    Box::pin(async move {
        let _timer = crate::metrics::redis_timer();
        fut.await
    })
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        timed(self.inner().req_packed_command(cmd))
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        timed(self.inner().req_packed_commands(cmd, offset, count))
    }
    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

pub struct RedisStore {
    conn: Conn,
    /// Where to subscribe for pub/sub (PUBLISH reaches every node of a cluster). For
    /// Sentinel the current master is resolved at every (re)subscribe instead.
    pubsub_client: Option<redis::Client>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

const CAS_SCRIPT: &str = r"
local v = redis.call('HGET', KEYS[1], 'version')
if v == ARGV[1] then
  redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0";

const RENEW_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Expiry assumed for a revocation published by an older gateway (no `until`): one day.
const DEFAULT_MESSAGE_TTL: i64 = 86_400;

/// TCP keepalive on every Redis connection the redis crate lets us configure (the command
/// connections; not pub/sub, see `subscribe`): a peer that vanished without FIN/RST is
/// noticed in about 10 + 3 × 5 s, and unacknowledged writes fail after 30 s.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    let ka = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(10))
        .with_interval(std::time::Duration::from_secs(5))
        .with_retries(3);
    redis::io::tcp::TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(ka)
        .set_user_timeout(std::time::Duration::from_secs(30))
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_tcp_settings(tcp_settings())
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(2))
        .set_number_of_retries(2)
        .set_max_delay(1000)
}

impl RedisStore {
    /// Standalone Redis. Fails if Redis cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = client
            .get_connection_manager_with_config(manager_config())
            .await?;
        Ok(Self {
            conn: Conn::Single(conn),
            pubsub_client: Some(client),
        })
    }

    /// Redis Cluster from seed node URLs.
    pub async fn connect_cluster(urls: &[String]) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .tcp_settings(tcp_settings())
            .build()?;
        let conn = client.get_async_connection().await?;
        let first = urls
            .first()
            .ok_or_else(|| StoreError::Unavailable("no cluster seed".into()))?;
        Ok(Self {
            conn: Conn::Cluster(conn),
            pubsub_client: Some(redis::Client::open(first.as_str())?),
        })
    }

    /// Redis behind Sentinel: `urls` are the sentinels, `master_name` the monitored master.
    pub async fn connect_sentinel(urls: &[String], master_name: &str) -> Result<Self, StoreError> {
        let client = redis::sentinel::SentinelClient::build(
            urls.to_vec(),
            master_name.to_string(),
            None,
            redis::sentinel::SentinelServerType::Master,
        )?;
        let conn = SentinelConn {
            client: std::sync::Arc::new(tokio::sync::Mutex::new(client)),
            conn: std::sync::Arc::new(tokio::sync::RwLock::new(None)),
        };
        conn.connection().await?;
        Ok(Self {
            conn: Conn::Sentinel(conn),
            pubsub_client: None,
        })
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }
}

/// `SET key value [NX] <unit> ttl`; false when `NX` kept an existing key.
async fn set(
    c: &mut Conn,
    key: &str,
    value: &str,
    nx: bool,
    unit: &str,
    ttl: impl redis::ToRedisArgs,
) -> Result<bool, StoreError> {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if nx {
        cmd.arg("NX");
    }
    let set: Option<String> = cmd.arg(unit).arg(ttl).query_async(c).await?;
    Ok(set.is_some())
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, s: &SessionRecord, ttl: i64) -> Result<(), StoreError> {
        let key = keys::session(s.id.secret());
        let fields = [
            ("data", encode(s)?),
            ("version", s.generation.to_string()),
            ("sub", s.sub.clone()),
            ("sid", s.sid.clone().unwrap_or_default()),
            ("iss", s.iss.clone()),
            ("created", s.created_at.to_string()),
            ("expires", s.expires_at.to_string()),
        ];
        let mut c = self.conn();
        let mut pipe = redis::pipe();
        pipe.hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, ttl)
            .ignore();
        for k in s.index_keys() {
            if self.is_cluster() {
                // The indexes live in other slots than the session: one pipeline per slot,
                // the session first so an index never names a session that was never written.
                pipe.exec_async(&mut c).await?;
                pipe = redis::pipe();
            }
            pipe.sadd(&k, s.id.secret()).ignore();
            // Index lives as long as its longest session: NX sets a first TTL, GT extends it.
            pipe.cmd("EXPIRE").arg(&k).arg(ttl).arg("NX").ignore();
            pipe.cmd("EXPIRE").arg(&k).arg(ttl).arg("GT").ignore();
        }
        if !self.is_cluster() {
            // Standalone or Sentinel: the session and its indexes in one transaction.
            pipe.atomic();
        }
        Ok(pipe.exec_async(&mut c).await?)
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let data: Option<String> = self.conn().hget(keys::session(id.secret()), "data").await?;
        data.map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn update_session(
        &self,
        s: &SessionRecord,
        expected_generation: u64,
        ttl: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn();
        let n: i64 = redis::Script::new(CAS_SCRIPT)
            .key(keys::session(s.id.secret()))
            .arg(expected_generation.to_string())
            .arg(encode(s)?)
            .arg(s.generation.to_string())
            .arg(ttl)
            .invoke_async(&mut c)
            .await?;
        if n == 1 {
            for k in s.index_keys() {
                redis::cmd("EXPIRE")
                    .arg(&k)
                    .arg(ttl)
                    .arg("GT")
                    .exec_async(&mut c)
                    .await?;
            }
        }
        Ok(n == 1)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let Some(s) = self.get_session(id).await? else {
            return Ok(None);
        };
        let mut c = self.conn();
        let removed: i64 = c.del(keys::session(id.secret())).await?;
        for k in s.index_keys() {
            let _: i64 = c.srem(&k, id.secret()).await?;
        }
        Ok((removed > 0).then_some(s))
    }

    async fn lookup(
        &self,
        index: Index,
        iss: &str,
        value: &str,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<String> = self.conn().smembers(keys::index(index, iss, value)).await?;
        Ok(ids.into_iter().map(SessionId::new).collect())
    }

    async fn mark_once(&self, key: &str, ttl: i64) -> Result<bool, StoreError> {
        set(&mut self.conn(), key, "1", true, "EX", ttl.max(1)).await
    }

    async fn lock_acquire(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        set(&mut self.conn(), key, token, true, "PX", ttl_ms.max(1)).await
    }

    async fn lock_renew(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let n: i64 = redis::Script::new(RENEW_SCRIPT)
            .key(key)
            .arg(token)
            .arg(ttl_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    async fn lock_release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = redis::Script::new(RELEASE_SCRIPT)
            .key(key)
            .arg(token)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn put_tombstone(
        &self,
        r: &Revocation,
        until: i64,
        ttl: i64,
        keep: bool,
    ) -> Result<(), StoreError> {
        let json = encode(r)?;
        let key = keys::revoked(&r.tombstone_id());
        let mut c = self.conn();
        set(&mut c, &key, &json, keep, "EX", ttl).await?;
        let _: i64 = c.zadd(keys::REVOKED_INDEX, &json, until).await?;
        Ok(())
    }

    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().publish(keys::CHANNEL, payload).await?;
        Ok(())
    }

    async fn mark_exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.conn().exists(key).await?)
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Revocation>, StoreError> {
        let v: Option<String> = self.conn().get(keys::revoked(id)).await?;
        Ok(v.and_then(|j| serde_json::from_str(&j).ok()))
    }

    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        let now = crate::util::now();
        let mut c = self.conn();
        let _: i64 = c.zrembyscore(keys::REVOKED_INDEX, "-inf", now).await?;
        let live: Vec<(String, f64)> = c
            .zrangebyscore_withscores(keys::REVOKED_INDEX, format!("({now}"), "+inf")
            .await?;
        let parse = |(j, until): (String, f64)| {
            let revocation = serde_json::from_str(&j).ok()?;
            let until = until as i64;
            Some(Tombstone { revocation, until })
        };
        Ok(live.into_iter().filter_map(parse).collect())
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, BusEvent>, StoreError> {
        let client = match (&self.pubsub_client, &self.conn) {
            (Some(c), _) => c.clone(),
            (None, Conn::Sentinel(s)) => s.master().await?,
            (None, _) => return Err(StoreError::Unavailable("no pub/sub client".into())),
        };
        // The redis crate gives pub/sub connections no TCP settings (no keepalive): the
        // revocation listener's heartbeat deadline is what detects a dead subscription.
        let mut ps = client.get_async_pubsub().await?;
        ps.subscribe(keys::CHANNEL).await?;
        let msgs = ps.into_on_message().filter_map(|m| async move {
            let payload: String = m.get_payload().ok()?;
            parse_message(&payload, crate::util::now() + DEFAULT_MESSAGE_TTL)
        });
        Ok(futures_util::stream::once(async { BusEvent::Subscribed })
            .chain(msgs)
            .boxed())
    }

    async fn stream_add(
        &self,
        key: &str,
        fields: &[(String, String)],
    ) -> Result<String, StoreError> {
        Ok(self.conn().xadd(key, "*", fields).await?)
    }

    async fn stream_head(
        &self,
        key: &str,
        count: usize,
    ) -> Result<Vec<super::StreamEntry>, StoreError> {
        let reply: Vec<(String, Vec<(String, String)>)> =
            self.conn().xrange_count(key, "-", "+", count).await?;
        Ok(reply
            .into_iter()
            .map(|(id, fields)| super::StreamEntry { id, fields })
            .collect())
    }

    async fn stream_del(&self, key: &str, id: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().xdel(key, &[id]).await?;
        Ok(())
    }

    async fn stream_len(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self.conn().xlen(key).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }
}
