//! In-memory revocation cache for the forward-auth hot path (docs/architecture.md §8): fed by the
//! `sso:revocations` channel, merged with the Redis tombstones on every (re)subscribe and
//! periodically while subscribed, so a check needs no Redis round trip when nothing changed.
//!
//! Logouts must not be lost (issue 8), so the listener:
//! - expects a heartbeat on the channel (every replica publishes one every
//!   `heartbeat_interval_secs`); none for `heartbeat_timeout_secs` means the subscription
//!   is dead even if its TCP connection looks open: the cache stops being ready (checks go
//!   to the store), and the listener resubscribes and rebuilds;
//! - merges instead of replacing: an entry stays until its own expiry, whatever the store
//!   says, so a Redis that restarted empty (or was flushed, or failed over to an empty
//!   replica) cannot undo a logout;
//! - writes back what it holds and the store lost, at every resync.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::config::RevocationSettings;
use crate::store::{BusEvent, Revocation, SessionStore, Tombstone};
use crate::util::now;

/// (cut-off `before`, expiry `until`) of an entry: tokens issued at or before the cut-off
/// are revoked (a jti's cut-off is `i64::MAX`: that token, whenever it was issued).
type Cut = (i64, i64);
type Table = RwLock<HashMap<String, Cut>>;
/// How an entry of a table (key, cut-off) reads as a revocation.
type ToRevocation = fn(String, i64) -> Revocation;

#[derive(Debug, Default)]
pub struct RevocationCache {
    /// sid → tokens of this OP session issued at or before the cut-off are revoked.
    sids: Table,
    /// sub → tokens issued at or before the cut-off are revoked.
    subs: Table,
    /// jti → that token is revoked.
    jtis: Table,
    ready: AtomicBool,
    built: AtomicBool,
    /// When the last heartbeat (or a (re)subscribe) was seen, unix milliseconds; 0: never.
    last_heartbeat_ms: AtomicI64,
    /// Past this age (ms) the subscription is presumed dead; 0: no heartbeat expected.
    heartbeat_timeout_ms: AtomicI64,
    /// Subscriptions given up for lack of heartbeats.
    pub dead_subscriptions: AtomicU64,
    /// Tombstones written back to a store that had lost them.
    pub written_back: AtomicU64,
    /// Woken when a session refresh finished (here, or on another replica through the
    /// channel): refresh waiters re-read their session instead of polling Redis.
    pub refreshed: tokio::sync::Notify,
}

impl RevocationCache {
    pub fn is_revoked(&self, sid: Option<&str>, sub: &str, iat: i64, jti: Option<&str>) -> bool {
        // Only tokens issued at or before the logout: a later login on the same OP
        // session (the OP never heard of the logout) is a new session.
        let covered = |m: &Table, k: &str| {
            m.read()
                .map(|m| m.get(k).is_some_and(|(before, _)| iat <= *before))
                .unwrap_or(true)
        };
        jti.is_some_and(|jti| covered(&self.jtis, jti))
            || sid.is_some_and(|sid| covered(&self.sids, sid))
            || covered(&self.subs, sub)
    }

    /// Each table with how its entries read as revocations.
    fn tables(&self) -> [(&Table, ToRevocation); 3] {
        [
            (&self.sids, |sid, before| Revocation::Sid { sid, before }),
            (&self.subs, |sub, before| Revocation::Sub { sub, before }),
            (&self.jtis, |jti, _| Revocation::Token { jti }),
        ]
    }

    /// Add one revocation, kept until `until` (unix seconds). Merges: the later cut-off and
    /// the later expiry win.
    pub fn insert(&self, r: &Revocation, until: i64) {
        let (m, k, before) = match r {
            Revocation::Sid { sid, before } => (&self.sids, sid, *before),
            Revocation::Sub { sub, before } => (&self.subs, sub, *before),
            Revocation::Token { jti } => (&self.jtis, jti, i64::MAX),
        };
        if let Ok(mut m) = m.write() {
            let e = m.entry(k.clone()).or_insert((before, until));
            *e = (e.0.max(before), e.1.max(until));
        }
    }

    /// Merge the store's tombstones into what this replica holds (never drop an entry
    /// before its own expiry: the store may have lost it), prune expired entries, and
    /// mark the cache ready.
    pub fn merge_all(&self, all: &[Tombstone]) {
        for t in all {
            self.insert(&t.revocation, t.until);
        }
        let now = now();
        for (m, _) in self.tables() {
            if let Ok(mut m) = m.write() {
                m.retain(|_, (_, until)| *until > now);
            }
        }
        self.ready.store(true, Ordering::Release);
        self.built.store(true, Ordering::Release);
    }

    /// Every live entry, as the tombstone that would restore it.
    pub fn entries(&self) -> Vec<Tombstone> {
        let mut out = Vec::new();
        for (m, revocation) in self.tables() {
            if let Ok(m) = m.read() {
                out.extend(m.iter().map(|(k, (before, until))| Tombstone {
                    revocation: revocation(k.clone(), *before),
                    until: *until,
                }));
            }
        }
        out
    }

    /// True once the cache was built at least once (it may be behind now).
    pub fn was_built(&self) -> bool {
        self.built.load(Ordering::Acquire)
    }

    /// True while the cache is current: built from the store since the last (re)subscribe,
    /// and the subscription delivered a heartbeat recently enough.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.heartbeat_overdue()
    }

    /// The subscription delivered something: it is alive.
    pub fn heartbeat_seen(&self) {
        self.last_heartbeat_ms
            .store(crate::util::now_ms(), Ordering::Release);
    }

    /// Time since the last heartbeat; `None` before the first one.
    pub fn heartbeat_age(&self) -> Option<Duration> {
        let t = self.last_heartbeat_ms.load(Ordering::Acquire);
        (t != 0).then(|| Duration::from_millis((crate::util::now_ms() - t).max(0) as u64))
    }

    /// The heartbeat deadline passed (only when heartbeats are expected).
    pub fn heartbeat_overdue(&self) -> bool {
        self.heartbeat_timeout()
            .is_some_and(|limit| self.heartbeat_age().is_none_or(|a| a > limit))
    }

    pub fn heartbeat_timeout(&self) -> Option<Duration> {
        let t = self.heartbeat_timeout_ms.load(Ordering::Acquire);
        (t != 0).then(|| Duration::from_millis(t as u64))
    }

    fn expect_heartbeats(&self, timeout: Duration) {
        self.heartbeat_timeout_ms
            .store(timeout.as_millis() as i64, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        let len = |(m, _): (&Table, _)| m.read().map(|m| m.len()).unwrap_or(0);
        self.tables().into_iter().map(len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The revocation service: writes a revocation to the store (where every replica's
/// listener and every later check finds it) and to this replica's cache at once, and asks
/// both whether a token is covered. Its dependencies are the store and the cache; the
/// gateway holds one (docs/architecture.md §2.1).
pub struct Revocations {
    store: Arc<dyn SessionStore>,
    cache: Arc<RevocationCache>,
    settings: RevocationSettings,
    /// `session.revocation_ttl_secs`.
    min_tombstone_secs: i64,
    clock_leeway_secs: i64,
    /// The longest access-token lifetime (`exp - iat`) seen here, seconds.
    longest_token_secs: AtomicI64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("cache_entries", &self.cache.len())
            .field("ready", &self.cache.is_ready())
            .finish_non_exhaustive()
    }
}

impl Revocations {
    pub fn new(store: Arc<dyn SessionStore>, settings: &crate::config::Settings) -> Self {
        Self {
            store,
            cache: Arc::new(RevocationCache::default()),
            settings: settings.revocation.clone(),
            min_tombstone_secs: settings.session.revocation_ttl_secs,
            clock_leeway_secs: settings.oidc.verifier.clock_leeway_secs,
            longest_token_secs: AtomicI64::new(0),
        }
    }

    /// This replica's cache (the hot path's verdict, metrics, readiness).
    pub fn cache(&self) -> &Arc<RevocationCache> {
        &self.cache
    }

    /// Remember how long the OP's access tokens live (login and refresh).
    pub fn note_token_lifetime(&self, exp: i64, iat: i64) {
        self.longest_token_secs
            .fetch_max(exp - iat, Ordering::Relaxed);
    }

    /// How long a sid or sub tombstone lives: `session.revocation_ttl_secs`, and never
    /// less than the longest access-token lifetime seen (plus the clock leeway), so it
    /// outlives every token it must stop.
    pub fn tombstone_ttl(&self) -> i64 {
        let seen = self.longest_token_secs.load(Ordering::Relaxed);
        self.min_tombstone_secs
            .max(seen + self.clock_leeway_secs + 60)
    }

    /// Revoke for `ttl` seconds: the store first (the replicas learn it from there), then
    /// this replica's cache.
    pub async fn revoke(&self, r: &Revocation, ttl: i64) -> Result<(), crate::store::StoreError> {
        self.store.revoke(r, ttl).await?;
        self.cache.insert(r, now() + ttl);
        Ok(())
    }

    /// Revoke an OP session or a subject (tokens issued until its cut-off) for as long as
    /// any token it must stop can live ([`Self::tombstone_ttl`]).
    pub async fn revoke_sessions(&self, r: &Revocation) -> Result<(), crate::store::StoreError> {
        self.revoke(r, self.tombstone_ttl()).await
    }

    /// Revoke one access token (`jti`) until a minute past its `exp`.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> Result<(), crate::store::StoreError> {
        let ttl = (exp - now()).max(0) + 60;
        let jti = jti.to_string();
        self.revoke(&Revocation::Token { jti }, ttl).await
    }

    /// Would a revocation refuse this token? The cache, and the store while the cache is
    /// not current.
    pub async fn covers(
        &self,
        sid: Option<&str>,
        sub: &str,
        iat: i64,
        jti: Option<&str>,
    ) -> Result<bool, crate::store::StoreError> {
        if self.cache.is_revoked(sid, sub, iat, jti) {
            return Ok(true);
        }
        if self.cache.is_ready() {
            return Ok(false);
        }
        tombstoned_in_store(self.store.as_ref(), sid, sub, iat, jti).await
    }

    /// The listener that keeps the cache current ([`run_listener`]); the binary owns it
    /// ([`crate::Gateway::spawn_background`]).
    pub fn listener(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        run_listener(
            self.store.clone(),
            self.cache.clone(),
            self.settings.clone(),
        )
    }
}

/// Is a token with these claims tombstoned in the store? (The check while a cache is not
/// current.)
pub async fn tombstoned_in_store(
    store: &dyn SessionStore,
    sid: Option<&str>,
    sub: &str,
    iat: i64,
    jti: Option<&str>,
) -> Result<bool, crate::store::StoreError> {
    let ids = [
        Some(format!("sub:{sub}")),
        sid.map(str::to_string),
        jti.map(|jti| format!("jti:{jti}")),
    ];
    for id in ids.into_iter().flatten() {
        let tombstone = store.tombstone(&id).await?;
        if tombstone.is_some_and(|r| r.covers(sid, sub, iat, jti)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Merge the store's tombstones into the cache and write back what the store lost.
async fn resync(
    store: &dyn SessionStore,
    cache: &RevocationCache,
) -> Result<(), crate::store::StoreError> {
    let held = cache.entries();
    let stored = store.tombstones().await?;
    cache.merge_all(&stored);
    let in_store: HashSet<&Revocation> = stored.iter().map(|t| &t.revocation).collect();
    let now = now();
    let lost: Vec<Tombstone> = held
        .into_iter()
        .filter(|t| t.until > now && !in_store.contains(&t.revocation))
        .collect();
    if !lost.is_empty() {
        tracing::warn!(
            tombstones = lost.len(),
            "the store lost revocation tombstones this replica holds (restart, flush or failover to an empty replica?); writing them back"
        );
        store.restore(&lost).await?;
        cache
            .written_back
            .fetch_add(lost.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Why following a subscription stopped, and whether it had been confirmed (built).
enum Stopped {
    /// The stream ended (connection closed) or the rebuild failed.
    Ended(bool),
    /// No heartbeat within the deadline: the subscription is silently dead.
    Silent,
}

/// Follow one subscription until it ends or goes silent.
async fn follow(
    store: &dyn SessionStore,
    cache: &RevocationCache,
    cfg: &RevocationSettings,
    mut events: BoxStream<'static, BusEvent>,
) -> Stopped {
    let timeout = Duration::from_secs(cfg.heartbeat_timeout_secs);
    let mut beat = tokio::time::interval(Duration::from_secs(cfg.heartbeat_interval_secs));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let resync_every = Duration::from_secs(cfg.resync_interval_secs);
    let mut resync_at =
        tokio::time::interval_at(tokio::time::Instant::now() + resync_every, resync_every);
    resync_at.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Until the subscription confirms, the deadline runs from now.
    let subscribed_at = tokio::time::Instant::now();
    let mut confirmed = false;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                None => return Stopped::Ended(confirmed),
                Some(BusEvent::Subscribed) => match resync(store, cache).await {
                    Ok(()) => {
                        confirmed = true;
                        cache.heartbeat_seen();
                        tracing::info!(entries = cache.len(), "revocation cache rebuilt");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot rebuild revocation cache");
                        return Stopped::Ended(confirmed);
                    }
                },
                Some(BusEvent::Revoked(t)) => {
                    cache.insert(&t.revocation, t.until);
                    cache.heartbeat_seen();
                }
                Some(BusEvent::Heartbeat) => cache.heartbeat_seen(),
                Some(BusEvent::Refreshed) => {
                    cache.heartbeat_seen();
                    cache.refreshed.notify_waiters();
                }
            },
            _ = beat.tick() => {
                let silent = if confirmed {
                    cache.heartbeat_age().is_none_or(|a| a > timeout)
                } else {
                    subscribed_at.elapsed() > timeout
                };
                if silent {
                    return Stopped::Silent;
                }
                // The publish goes over the command connection; the subscriber connection
                // is proven only by receiving it (or another replica's).
                match tokio::time::timeout(Duration::from_secs(2), store.heartbeat()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot publish a revocation heartbeat"),
                    Err(_) => tracing::warn!("publishing a revocation heartbeat timed out"),
                }
            }
            _ = resync_at.tick() => {
                // Even while subscribed: catches a message lost on the way, prunes expired
                // entries, and writes back what a restarted store lost.
                if let Err(e) = resync(store, cache).await {
                    tracing::warn!(error = %e, "periodic revocation resync failed");
                }
            }
        }
    }
}

/// Subscribe forever; after each (re)subscribe merge the tombstones, then follow the
/// channel with a heartbeat deadline and a periodic resync.
pub async fn run_listener(
    store: Arc<dyn SessionStore>,
    cache: Arc<RevocationCache>,
    cfg: RevocationSettings,
) {
    let timeout = Duration::from_secs(cfg.heartbeat_timeout_secs);
    cache.expect_heartbeats(timeout);
    let mut backoff = Duration::from_millis(100);
    loop {
        // A subscribe that hangs (a connection that accepts but never answers) counts as failed.
        match tokio::time::timeout(timeout, store.subscribe()).await {
            Ok(Ok(events)) => match follow(store.as_ref(), &cache, &cfg, events).await {
                Stopped::Ended(confirmed) => {
                    if confirmed {
                        backoff = Duration::from_millis(100);
                    }
                    tracing::warn!("revocation subscription ended; resubscribing");
                }
                Stopped::Silent => {
                    cache.dead_subscriptions.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        timeout_secs = cfg.heartbeat_timeout_secs,
                        "no revocation heartbeat within the deadline: the subscription is presumed dead; resubscribing"
                    );
                    backoff = Duration::from_millis(100);
                }
            },
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot subscribe to revocations"),
            Err(_) => tracing::warn!("subscribing to revocations timed out"),
        }
        cache.ready.store(false, Ordering::Release);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_revocation_covers_only_tokens_issued_before_the_logout() {
        let c = RevocationCache::default();
        c.insert(
            &Revocation::Sid {
                sid: "s".into(),
                before: 100,
            },
            now() + 60,
        );
        assert!(c.is_revoked(Some("s"), "u", 99, None));
        assert!(c.is_revoked(Some("s"), "u", 100, None));
        assert!(!c.is_revoked(Some("s"), "u", 101, None), "a later login");
        assert!(!c.is_revoked(Some("t"), "u", 1, None));
    }

    /// Item 9: entries and the store's index are pruned by expiry while subscribed (the
    /// periodic resync), not only on a resubscribe.
    #[tokio::test]
    async fn expired_entries_are_pruned_while_subscribed() {
        let store: Arc<dyn SessionStore> = Arc::new(crate::store::memory::MemoryStore::new());
        let cache = Arc::new(RevocationCache::default());
        let cfg = RevocationSettings {
            heartbeat_interval_secs: 1,
            heartbeat_timeout_secs: 3,
            resync_interval_secs: 1,
            ..Default::default()
        };
        let (s, c) = (store.clone(), cache.clone());
        let listener = tokio::spawn(async move { run_listener(s, c, cfg).await });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !cache.is_ready() {
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let short = Revocation::Token {
            jti: "short".into(),
        };
        store.revoke(&short, 1).await.unwrap_or_default();
        let long = Revocation::Token { jti: "long".into() };
        store.revoke(&long, 600).await.unwrap_or_default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while cache.len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "not delivered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cache.is_revoked(None, "u", 0, Some("short")) {
            assert!(tokio::time::Instant::now() < deadline, "never pruned");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cache.is_revoked(None, "u", 0, Some("long")));
        assert_eq!(cache.len(), 1);
        listener.abort();
    }

    #[test]
    fn merge_keeps_entries_the_store_lost_until_their_own_expiry() {
        let c = RevocationCache::default();
        c.insert(&Revocation::Token { jti: "j".into() }, now() + 60);
        c.insert(&Revocation::Token { jti: "old".into() }, now() - 1);
        c.merge_all(&[]);
        assert!(c.is_revoked(None, "u", 0, Some("j")), "kept");
        assert!(!c.is_revoked(None, "u", 0, Some("old")), "pruned");
        assert_eq!(c.entries().len(), 1);
    }
}
