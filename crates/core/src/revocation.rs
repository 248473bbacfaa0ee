//! In-memory revocation cache for the forward-auth hot path (DESIGN §6): fed by the
//! `sso:revocations` channel and rebuilt from the Redis tombstones on every (re)subscribe,
//! so a check needs no Redis round trip when nothing changed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;

use crate::store::{BusEvent, Revocation, SessionStore};

#[derive(Debug, Default)]
pub struct RevocationCache {
    sids: RwLock<HashMap<String, ()>>,
    /// sub → tokens issued at or before this time are revoked.
    subs: RwLock<HashMap<String, i64>>,
    jtis: RwLock<HashMap<String, ()>>,
    ready: AtomicBool,
    built: AtomicBool,
}

impl RevocationCache {
    pub fn is_revoked(&self, sid: Option<&str>, sub: &str, iat: i64, jti: Option<&str>) -> bool {
        if let Some(jti) = jti {
            if self
                .jtis
                .read()
                .map(|m| m.contains_key(jti))
                .unwrap_or(true)
            {
                return true;
            }
        }
        if let Some(sid) = sid {
            if self
                .sids
                .read()
                .map(|m| m.contains_key(sid))
                .unwrap_or(true)
            {
                return true;
            }
        }
        self.subs
            .read()
            .map(|m| m.get(sub).is_some_and(|before| iat <= *before))
            .unwrap_or(true)
    }

    pub fn insert(&self, r: &Revocation) {
        match r {
            Revocation::Sid { sid } => {
                if let Ok(mut m) = self.sids.write() {
                    m.insert(sid.clone(), ());
                }
            }
            Revocation::Token { jti } => {
                if let Ok(mut m) = self.jtis.write() {
                    m.insert(jti.clone(), ());
                }
            }
            Revocation::Sub { sub, before } => {
                if let Ok(mut m) = self.subs.write() {
                    let e = m.entry(sub.clone()).or_insert(*before);
                    *e = (*e).max(*before);
                }
            }
        }
    }

    pub fn replace_all(&self, all: &[Revocation]) {
        if let (Ok(mut s), Ok(mut u), Ok(mut j)) =
            (self.sids.write(), self.subs.write(), self.jtis.write())
        {
            s.clear();
            u.clear();
            j.clear();
        }
        for r in all {
            self.insert(r);
        }
        self.ready.store(true, Ordering::Release);
        self.built.store(true, Ordering::Release);
    }

    /// True once the cache was built at least once (it may be behind now).
    pub fn was_built(&self) -> bool {
        self.built.load(Ordering::Acquire)
    }

    /// True once the cache was built from the store at least once.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn mark_stale(&self) {
        self.ready.store(false, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.sids.read().map(|m| m.len()).unwrap_or(0)
            + self.subs.read().map(|m| m.len()).unwrap_or(0)
            + self.jtis.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Subscribe forever; after each (re)subscribe rebuild from the tombstones.
pub async fn run_listener(store: Arc<dyn SessionStore>, cache: Arc<RevocationCache>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match store.subscribe().await {
            Ok(mut events) => {
                while let Some(ev) = events.next().await {
                    match ev {
                        BusEvent::Subscribed => match store.tombstones().await {
                            Ok(all) => {
                                cache.replace_all(&all);
                                backoff = Duration::from_millis(100);
                                tracing::info!(entries = all.len(), "revocation cache rebuilt");
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot rebuild revocation cache");
                                break;
                            }
                        },
                        BusEvent::Revoked(r) => cache.insert(&r),
                    }
                }
                tracing::warn!("revocation subscription ended; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to revocations"),
        }
        cache.mark_stale();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
