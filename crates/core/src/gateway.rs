//! The gateway service: the state every flow needs, built once at start.

use std::sync::Arc;

use crate::config::{Settings, StoreSettings};
use crate::cookies::CookieCodec;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::oidc::OidcClient;
use crate::revocation::Revocations;
use crate::session::Sessions;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::SessionStore;

#[derive(Debug)]
pub struct Gateway {
    pub(crate) settings: Arc<Settings>,
    pub(crate) oidc: OidcClient,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) cookies: CookieCodec,
    /// Revocations: the store's tombstones and this replica's cache (its own service).
    pub(crate) revocations: Arc<Revocations>,
    /// The session records and ending them (its own service, over the revocations).
    pub(crate) sessions: Sessions,
    pub(crate) metrics: Metrics,
    pub(crate) rate_limits: crate::rate_limit::RateLimits,
    /// The fan-out queue to peer domains and its workers (its own service).
    pub(crate) fanout: crate::fanout::FanoutQueue,
}

impl Gateway {
    /// Connect the configured store and build the service. The OP is contacted lazily
    /// (discovery on first use), so a gateway can start while the OP is briefly down.
    pub async fn build(settings: Settings) -> Result<Arc<Self>> {
        let store: Arc<dyn SessionStore> = match &settings.store {
            StoreSettings::Memory => Arc::new(MemoryStore::new()),
            StoreSettings::Redis { url } => Arc::new(RedisStore::connect(url).await?),
            StoreSettings::Cluster { urls } => Arc::new(RedisStore::connect_cluster(urls).await?),
            StoreSettings::Sentinel { urls, master_name } => {
                Arc::new(RedisStore::connect_sentinel(urls, master_name).await?)
            }
        };
        Self::with_store(settings, store)
    }

    pub fn with_store(settings: Settings, store: Arc<dyn SessionStore>) -> Result<Arc<Self>> {
        let oidc = OidcClient::new(settings.oidc.clone(), settings.public_route("/callback"))?;
        let revocations = Arc::new(Revocations::new(store.clone(), &settings));
        let settings = Arc::new(settings);
        Ok(Arc::new(Self {
            cookies: CookieCodec::new(&settings.cookie, &settings.server.prefix),
            fanout: crate::fanout::FanoutQueue::new(store.clone(), settings.clone()),
            rate_limits: crate::rate_limit::RateLimits::new(settings.rate_limit.clone()),
            revocations: revocations.clone(),
            sessions: Sessions::new(store.clone(), revocations),
            settings,
            oidc,
            store,
            metrics: Metrics::new()
                .map_err(|_| crate::Error::Internal("the metrics could not be registered"))?,
        }))
    }

    /// Start the background tasks: the revocation listener (the cache fed from
    /// `sso:revocations`, rebuilt on every resubscribe), the fan-out delivery workers and the
    /// rate-limit pruning. The caller (the binary, a test) owns them: dropping the returned
    /// [`Background`] stops them.
    pub fn spawn_background(self: &Arc<Self>) -> Background {
        let listener = self.revocations.listener();
        let fanout = self.fanout.clone();
        let weak = Arc::downgrade(self);
        Background(vec![
            tokio::spawn(listener),
            tokio::spawn(async move { crate::fanout::run(fanout).await }),
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let Some(gw) = weak.upgrade() else { return };
                    gw.rate_limits.prune();
                }
            }),
        ])
    }
}

/// A gateway's background tasks ([`Gateway::spawn_background`]); dropped or
/// [`stopped`](Background::stop), they end.
#[derive(Debug)]
#[must_use = "dropping the background tasks stops them"]
pub struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Background {
    /// Stop every task now.
    pub fn stop(self) {}
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Read access for the HTTP layer, the CLI and tests; the fields themselves are private to
/// core, so only core's flows change them.
impl Gateway {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn oidc(&self) -> &OidcClient {
        &self.oidc
    }
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }
    pub fn cookies(&self) -> &CookieCodec {
        &self.cookies
    }
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    pub fn rate_limits(&self) -> &crate::rate_limit::RateLimits {
        &self.rate_limits
    }
    pub fn fanout(&self) -> &crate::fanout::FanoutQueue {
        &self.fanout
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let key = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4";
        Settings::from_toml(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://auth.a.test\"\n\
             [oidc]\nissuer = \"https://op.a.test\"\nclient_id = \"gw\"\nclient_secret = \"s\"\n\
             [cookie]\ndomain = \"a.test\"\nkeys = [\"{key}\"]\n\
             [redirect]\nallowed = [\"a.test\"]\n[store]\nkind = \"memory\"\n"
        ))
        .unwrap()
    }

    /// The revocation service writes the store and this replica's cache at once: a revoked
    /// token is refused here at once, and by a replica sharing the store whose cache is not
    /// current yet (it asks the store); a token of another subject is not.
    #[tokio::test]
    async fn a_revocation_reaches_this_cache_and_the_shared_store() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
        let here = crate::revocation::Revocations::new(store.clone(), &settings());
        let replica = crate::revocation::Revocations::new(store, &settings());
        let now = crate::util::now();
        here.revoke_token("jti-1", now + 300).await.unwrap();
        here.revoke_sessions(&crate::store::Revocation::Sub {
            sub: "alice".into(),
            before: now,
        })
        .await
        .unwrap();
        // this replica's cache, without the store
        assert!(here.cache().is_revoked(None, "bob", now, Some("jti-1")));
        assert!(here.cache().is_revoked(None, "alice", now - 1, None));
        // the replica's cache is empty and not ready: the store answers
        assert!(!replica.cache().is_ready() && replica.cache().is_empty());
        assert!(replica
            .covers(None, "bob", now, Some("jti-1"))
            .await
            .unwrap());
        assert!(replica.covers(None, "alice", now - 1, None).await.unwrap());
        assert!(!replica
            .covers(None, "bob", now, Some("jti-2"))
            .await
            .unwrap());
        // a sub tombstone lives at least as long as the longest token seen
        here.note_token_lifetime(now + 7200, now);
        assert!(here.tombstone_ttl() >= 7200);
    }

    /// Ending an OP session ends the sessions created until the logout, revokes their
    /// access tokens and the `sid` on this replica at once, and leaves a login made after
    /// the logout (a late delivery) alone.
    #[tokio::test]
    async fn ending_an_op_session_spares_a_later_login() {
        use crate::store::acceptance::record;
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
        let revocations = Arc::new(Revocations::new(store.clone(), &settings()));
        let sessions = crate::session::Sessions::new(store.clone(), revocations.clone());
        let old = record("s-old", "sid-1", "alice");
        let mut later = record("s-new", "sid-1", "alice");
        later.created_at += 10;
        later.access_jti = Some("jti-2".into());
        store.put_session(&old, 60).await.unwrap();
        store.put_session(&later, 60).await.unwrap();
        let cut = old.created_at + 1;
        let ended = sessions
            .end_sessions(&old.iss, Some("sid-1"), Some("alice"), false, cut)
            .await
            .unwrap();
        assert_eq!(ended.sessions, 1);
        assert!(store.get_session(&old.id).await.unwrap().is_none());
        assert!(store.get_session(&later.id).await.unwrap().is_some());
        let cache = revocations.cache();
        assert!(cache.is_revoked(None, "bob", cut, Some("jti-1")));
        assert!(!cache.is_revoked(None, "bob", cut, Some("jti-2")));
        assert!(cache.is_revoked(Some("sid-1"), "alice", old.created_at, None));
        assert!(!cache.is_revoked(Some("sid-1"), "alice", later.created_at, None));
    }

    /// The binary owns the background tasks: stopping (or dropping) the handle ends them.
    #[tokio::test]
    async fn stopping_the_background_ends_every_task() {
        let gw = Gateway::with_store(settings(), Arc::new(MemoryStore::default())).unwrap();
        let bg = gw.spawn_background();
        let tasks: Vec<_> = bg.0.iter().map(|t| t.abort_handle()).collect();
        assert_eq!(tasks.len(), 3);
        tokio::task::yield_now().await;
        // the revocation listener and the pruner run until stopped (the fan-out workers end
        // at once without peers)
        let running: Vec<_> = tasks.iter().filter(|t| !t.is_finished()).collect();
        assert!(running.len() >= 2, "{} running", running.len());
        bg.stop();
        for _ in 0..1000 {
            if running.iter().all(|t| t.is_finished()) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("a background task outlived its stop");
    }
}
