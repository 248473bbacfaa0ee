//! In-memory store for `make demo` and unit tests. Single process only.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::{
    keys, BusEvent, Index, Revocation, SessionRecord, SessionStore, StoreError, Tombstone,
};
use crate::secret::SessionId;

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, (SessionRecord, Instant)>,
    sets: HashMap<String, HashSet<String>>,
    marks: HashMap<String, (String, Instant)>,
    /// tombstone id → (revocation, deadline, expiry in unix seconds): one per id, as the
    /// Redis store's `sso:revoked:{id}` keys
    tombstones: HashMap<String, (Revocation, Instant, i64)>,
    streams: HashMap<String, Vec<super::StreamEntry>>,
    seq: u64,
}

impl Inner {
    /// Set a mark (or lock) that is not set; false if it is.
    fn set_nx(&mut self, key: &str, token: &str, deadline: Instant) -> bool {
        let free = !self.marks.contains_key(key);
        if free {
            self.marks.insert(key.into(), (token.into(), deadline));
        }
        free
    }
}

pub struct MemoryStore {
    inner: Mutex<Inner>,
    bus: broadcast::Sender<BusEvent>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn deadline(ttl_secs: i64) -> Instant {
    Instant::now() + Duration::from_secs(ttl_secs.max(0) as u64)
}

impl MemoryStore {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            bus: broadcast::channel(1024).0,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Result<R, StoreError> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))?;
        let now = Instant::now();
        g.sessions.retain(|_, (_, d)| *d > now);
        g.marks.retain(|_, (_, d)| *d > now);
        g.tombstones.retain(|_, (_, d, _)| *d > now);
        Ok(f(&mut g))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, s: &SessionRecord, ttl: i64) -> Result<(), StoreError> {
        self.with(|g| {
            for k in s.index_keys() {
                g.sets
                    .entry(k)
                    .or_default()
                    .insert(s.id.secret().to_string());
            }
            g.sessions
                .insert(s.id.secret().to_string(), (s.clone(), deadline(ttl)));
        })
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|g| g.sessions.get(id.secret()).map(|(s, _)| s.clone()))
    }

    async fn update_session(
        &self,
        s: &SessionRecord,
        expected_generation: u64,
        ttl: i64,
    ) -> Result<bool, StoreError> {
        self.with(|g| match g.sessions.get_mut(s.id.secret()) {
            Some((cur, d)) if cur.generation == expected_generation => {
                *cur = s.clone();
                *d = deadline(ttl);
                true
            }
            _ => false,
        })
    }

    async fn delete_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|g| {
            let gone = g.sessions.remove(id.secret()).map(|(s, _)| s);
            for k in gone.iter().flat_map(SessionRecord::index_keys) {
                if let Some(set) = g.sets.get_mut(&k) {
                    set.remove(id.secret());
                }
            }
            gone
        })
    }

    async fn lookup(
        &self,
        index: Index,
        iss: &str,
        value: &str,
    ) -> Result<Vec<SessionId>, StoreError> {
        let key = keys::index(index, iss, value);
        self.with(|g| {
            let ids = g.sets.get(&key).into_iter().flatten();
            ids.filter(|id| g.sessions.contains_key(*id))
                .map(|id| SessionId::new(id.clone()))
                .collect()
        })
    }

    async fn mark_once(&self, key: &str, ttl: i64) -> Result<bool, StoreError> {
        self.with(|g| g.set_nx(key, "", deadline(ttl)))
    }

    async fn lock_acquire(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        self.with(|g| g.set_nx(key, token, Instant::now() + Duration::from_millis(ttl_ms)))
    }

    async fn lock_renew(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        self.with(|g| match g.marks.get_mut(key) {
            Some((t, d)) if t == token => {
                *d = Instant::now() + Duration::from_millis(ttl_ms);
                true
            }
            _ => false,
        })
    }

    async fn lock_release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.with(|g| {
            if g.marks.get(key).is_some_and(|(t, _)| t == token) {
                g.marks.remove(key);
            }
        })
    }

    async fn put_tombstone(
        &self,
        r: &Revocation,
        until: i64,
        ttl: i64,
        keep: bool,
    ) -> Result<(), StoreError> {
        self.with(|g| {
            let id = r.tombstone_id();
            if !keep || !g.tombstones.contains_key(&id) {
                g.tombstones.insert(id, (r.clone(), deadline(ttl), until));
            }
        })
    }

    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        if let Some(event) = super::parse_message(payload, 0) {
            // no subscribers is fine
            let _ = self.bus.send(event);
        }
        Ok(())
    }

    async fn mark_exists(&self, key: &str) -> Result<bool, StoreError> {
        self.with(|g| g.marks.contains_key(key))
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Revocation>, StoreError> {
        self.with(|g| g.tombstones.get(id).map(|(r, _, _)| r.clone()))
    }

    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        self.with(|g| {
            g.tombstones
                .values()
                .map(|(r, _, until)| Tombstone {
                    revocation: r.clone(),
                    until: *until,
                })
                .collect()
        })
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, BusEvent>, StoreError> {
        let events = futures_util::stream::unfold(self.bus.subscribe(), |mut rx| async move {
            match rx.recv().await {
                Ok(ev) => Some((ev, rx)),
                // Lagged: tell the listener to rebuild, like a resubscribe.
                Err(broadcast::error::RecvError::Lagged(_)) => Some((BusEvent::Subscribed, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Ok(futures_util::stream::once(async { BusEvent::Subscribed })
            .chain(events)
            .boxed())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn stream_add(
        &self,
        key: &str,
        fields: &[(String, String)],
    ) -> Result<String, StoreError> {
        self.with(|g| {
            g.seq += 1;
            let id = format!("{}-0", g.seq);
            g.streams
                .entry(key.to_string())
                .or_default()
                .push(super::StreamEntry {
                    id: id.clone(),
                    fields: fields.to_vec(),
                });
            id
        })
    }

    async fn stream_head(
        &self,
        key: &str,
        count: usize,
    ) -> Result<Vec<super::StreamEntry>, StoreError> {
        self.with(|g| {
            g.streams
                .get(key)
                .map(|v| v.iter().take(count).cloned().collect())
                .unwrap_or_default()
        })
    }

    async fn stream_del(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.with(|g| {
            if let Some(v) = g.streams.get_mut(key) {
                v.retain(|e| e.id != id);
            }
        })
    }

    async fn stream_len(&self, key: &str) -> Result<u64, StoreError> {
        self.with(|g| g.streams.get(key).map(|v| v.len() as u64).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_passes_acceptance_suite() {
        super::super::acceptance::run(&super::MemoryStore::new()).await;
    }
}
