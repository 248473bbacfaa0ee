//! Fan-out of back-channel logouts to peer root domains (docs/architecture.md §9.1): the original signed
//! logout token goes into a durable per-peer Redis Stream (`sso:fanout:<peer>`) and a
//! worker delivers it with backoff until the peer acknowledges (HTTP 200). One replica
//! delivers per peer at a time (a lease, renewed during a batch), oldest first, with one
//! worker per peer so a failing peer's backoff never delays the others. An entry the peer
//! refuses for good (400/403, e.g. a federation key that differs between the two peers)
//! moves to the peer's dead-letter stream (`sso:fanout:dead:<peer>`), counted in `/metrics`;
//! an operator replays it with `sso-gateway fanout replay-dead`. Entries are queued unsigned
//! and MAC'd at delivery with the peer's current key (`crate::federation`).
//!
//! A fault must not lose a logout (issue 8), and the queue lives in the store that may lose
//! it: a Redis that restarts empty, is flushed, or fails over to a replica that had not yet
//! received the newest writes. So each replica also keeps what it queued in memory (its
//! *outbox*) until it sees the entry leave the stream (delivered or dead-lettered), and
//! checks with a per-replica *guard* key in the stream's Cluster slot, rewritten after
//! every append, that the store still holds its writes. A guard that is gone or older
//! than the last append means the store lost data: the outbox is queued again
//! (docs/architecture.md §9.1). Peers apply a logout or revocation they already applied
//! as an idempotent success, so a repeat delivery is harmless.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::error::Result;
use crate::store::{keys, SessionStore};
use crate::util::{now, random_token};

/// The per-peer delivery lease; renewed after every delivered entry.
const LEASE_MS: u64 = 15_000;

/// A peer gateway's route: `fanout.peers` entries are its public URL, optionally with its
/// route prefix (`https://auth.b.com` means the default `/sso`, `https://b.com/auth` a
/// custom one).
pub fn peer_endpoint(peer: &str, route: &str) -> String {
    let base = peer.trim_end_matches('/');
    match url::Url::parse(base) {
        Ok(u) if u.path().is_empty() || u.path() == "/" => format!("{base}/sso{route}"),
        _ => format!("{base}{route}"),
    }
}

/// Stream name part for a peer.
pub fn peer_key(peer: &url::Url) -> String {
    peer.origin().ascii_serialization()
}

/// What a fan-out stream entry carries, written and read only here (the stream fields are
/// its serialised form; docs/architecture.md §11). MACs are not stored: an entry is signed
/// when it is delivered, with the peer's key of that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutMessage {
    /// A logout token from the OP, received here at `received_at`.
    Logout { token: String, received_at: i64 },
    /// An operator's revocation of every session of `sub`, at `at`.
    Revoke { sub: String, at: i64 },
}

/// Why a stream entry is not a [`FanoutMessage`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedEntry {
    #[error("the entry lacks the field {0}")]
    Missing(&'static str),
    #[error("the entry's received_at is not a number")]
    Time,
}

impl FanoutMessage {
    pub fn to_fields(&self) -> Vec<(String, String)> {
        match self {
            FanoutMessage::Logout { token, received_at } => vec![
                ("token".into(), token.clone()),
                ("received_at".into(), received_at.to_string()),
            ],
            FanoutMessage::Revoke { sub, at } => vec![
                ("kind".into(), "admin".into()),
                ("sub".into(), sub.clone()),
                ("received_at".into(), at.to_string()),
            ],
        }
    }

    /// Read an entry back; other fields (an older version's `mac`, a dead letter's
    /// `status`/`failed_at`) are ignored.
    pub fn from_entry(e: &crate::store::StreamEntry) -> std::result::Result<Self, MalformedEntry> {
        let field = |k| e.field(k).ok_or(MalformedEntry::Missing(k));
        let at = field("received_at")?
            .parse::<i64>()
            .map_err(|_| MalformedEntry::Time)?;
        Ok(if e.field("kind") == Some("admin") {
            let sub = field("sub")?.to_string();
            FanoutMessage::Revoke { sub, at }
        } else {
            let token = field("token")?.to_string();
            FanoutMessage::Logout {
                token,
                received_at: at,
            }
        })
    }
}

/// How long a guard key lives without being checked (it is checked at every delivery round
/// while its outbox holds entries).
const GUARD_MS: u64 = 86_400_000;
/// Entries kept per peer in a replica's outbox; past it the oldest go (they stay queued in
/// the store, only the protection against the store losing them ends).
const OUTBOX_MAX: usize = 10_000;

/// The fan-out queue and its delivery workers: a service with its own dependencies (the
/// store and the settings), so it knows nothing of the gateway. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct FanoutQueue {
    store: Arc<dyn SessionStore>,
    settings: Arc<Settings>,
    /// Bumped whenever this replica queues an entry: its delivery workers wake at once
    /// instead of at their next poll (a `watch` loses no wake-up between a worker's empty
    /// check and its wait).
    queued: Arc<tokio::sync::watch::Sender<u64>>,
    /// What this replica queued and has not seen leave the stream yet; held across the
    /// store calls of an append or a check, so the two never interleave.
    outbox: Arc<tokio::sync::Mutex<HashMap<String, Outbox>>>,
    /// Names this replica's guard keys.
    replica: Arc<str>,
    /// Entries queued again after the store lost them.
    pub requeued: Arc<std::sync::atomic::AtomicU64>,
}

/// One peer's part of a replica's outbox.
#[derive(Default)]
struct Outbox {
    /// (stream id, fields), in append order (so in stream-id order).
    entries: VecDeque<(String, Vec<(String, String)>)>,
    /// The value this replica last wrote to its guard key; `None` before the first append.
    guard: Option<String>,
}

impl std::fmt::Debug for Outbox {
    // the fields hold logout tokens: never printed
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// A stream id (`<ms>-<seq>`) as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

impl FanoutQueue {
    pub fn new(store: Arc<dyn SessionStore>, settings: Arc<Settings>) -> Self {
        Self {
            store,
            settings,
            queued: Arc::new(tokio::sync::watch::Sender::new(0)),
            outbox: Arc::default(),
            replica: random_token(12).into(),
            requeued: Arc::default(),
        }
    }

    /// Queue a message for the given peers. Durable once this returns: in the store, and
    /// in this replica's outbox until it leaves the stream.
    pub(crate) async fn enqueue_for<'p>(
        &self,
        peers: impl IntoIterator<Item = &'p url::Url>,
        msg: &FanoutMessage,
    ) -> Result<()> {
        let fields = msg.to_fields();
        let mut outbox = self.outbox.lock().await;
        for peer in peers {
            let pk = peer_key(peer);
            let ob = outbox.entry(pk.clone()).or_default();
            // What the store lost before this append goes again first.
            if !self.guard_holds(&pk, ob).await? {
                self.requeue(&pk, ob).await?;
            }
            let id = self.store.stream_add(&keys::fanout(&pk), &fields).await?;
            ob.entries.push_back((id, fields.clone()));
            if ob.entries.len() > OUTBOX_MAX {
                ob.entries.pop_front();
            }
            self.write_guard(&pk, ob).await?;
        }
        drop(outbox);
        self.wake();
        Ok(())
    }

    /// Does the store still hold every write of this replica to the peer's stream? The
    /// guard key holds the id of this replica's last append to it; written after the
    /// append in the same Cluster slot, it survives only if the append did.
    async fn guard_holds(&self, pk: &str, ob: &Outbox) -> Result<bool> {
        let Some(value) = &ob.guard else {
            return Ok(ob.entries.is_empty());
        };
        let key = keys::fanout_guard(pk, &self.replica);
        Ok(self.store.lock_renew(&key, value, GUARD_MS).await?)
    }

    /// After this replica appended to the peer's stream: the guard names its last entry.
    async fn write_guard(&self, pk: &str, ob: &mut Outbox) -> Result<()> {
        let Some((id, _)) = ob.entries.back() else {
            return Ok(());
        };
        let key = keys::fanout_guard(pk, &self.replica);
        if let Some(old) = ob.guard.take() {
            self.store.lock_release(&key, &old).await?;
        }
        let value = id.clone();
        if !self.store.lock_acquire(&key, &value, GUARD_MS).await? {
            // Only this replica writes its guard; a value that stays is not ours, so the
            // next check finds a mismatch and queues the outbox again (harmless).
            tracing::warn!(peer = %pk, "fan-out guard key held by another value");
        }
        ob.guard = Some(value);
        Ok(())
    }

    /// The store lost what this replica queued for the peer: queue it all again.
    async fn requeue(&self, pk: &str, ob: &mut Outbox) -> Result<()> {
        if ob.entries.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            peer = %pk,
            entries = ob.entries.len(),
            "the store lost fan-out entries this replica queued (restart, flush or failover to a replica behind?); queueing them again"
        );
        let key = keys::fanout(pk);
        for (id, fields) in ob.entries.iter_mut() {
            *id = self.store.stream_add(&key, fields).await?;
            self.requeued
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.write_guard(pk, ob).await
    }

    /// One check of this replica's outbox for the peer (at every delivery round): forget
    /// what left the stream, queue again what the store lost.
    async fn reconcile(&self, pk: &str) -> Result<()> {
        let mut outbox = self.outbox.lock().await;
        let Some(ob) = outbox.get_mut(pk).filter(|ob| !ob.entries.is_empty()) else {
            return Ok(());
        };
        // The head is read before the guard is checked: a guard that still holds proves
        // the store had lost nothing when the head was read.
        let head = self.store.stream_head(&keys::fanout(pk), 1).await?;
        if !self.guard_holds(pk, ob).await? {
            self.requeue(pk, ob).await?;
            drop(outbox);
            self.wake();
            return Ok(());
        }
        // Workers delete oldest first: whatever is older than the head has left the stream.
        let head = head.first().map(|e| stream_id(&e.id));
        while let Some((id, _)) = ob.entries.front() {
            if head.is_some_and(|h| stream_id(id) >= h) {
                break;
            }
            ob.entries.pop_front();
        }
        Ok(())
    }

    /// Queue a logout token for every peer. Durable once this returns.
    pub async fn enqueue_fanout(&self, token: &str, received_at: i64) -> Result<()> {
        let msg = FanoutMessage::Logout {
            token: token.to_string(),
            received_at,
        };
        self.enqueue_for(&self.settings.fanout.peers, &msg).await
    }

    /// Wake this replica's delivery workers: something was queued.
    pub(crate) fn wake(&self) {
        self.queued.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// (peer, queue depth, lag seconds of the oldest entry, dead letters).
    pub async fn status(&self) -> Vec<(String, u64, i64, u64)> {
        let mut out = Vec::new();
        for peer in &self.settings.fanout.peers {
            let pk = peer_key(peer);
            let k = keys::fanout(&pk);
            let depth = self.store.stream_len(&k).await.unwrap_or(0);
            let head = self.store.stream_head(&k, 1).await.unwrap_or_default();
            let lag = head
                .first()
                .and_then(|e| e.field("received_at")?.parse::<i64>().ok())
                .map_or(0, |t| now() - t);
            let dead = self.store.stream_len(&keys::fanout_dead(&pk)).await;
            out.push((pk, depth, lag, dead.unwrap_or(0)));
        }
        out
    }

    /// Move every dead letter of the peers (all, or those whose origin is `only`) back to
    /// their delivery queues, oldest first. Returns how many moved.
    pub async fn replay_dead_letters(&self, only: Option<&str>) -> Result<usize> {
        let mut n = 0;
        for peer in &self.settings.fanout.peers {
            let pk = peer_key(peer);
            if only.is_some_and(|o| o.trim_end_matches('/') != pk) {
                continue;
            }
            let dead = keys::fanout_dead(&pk);
            loop {
                let batch = self.store.stream_head(&dead, 64).await?;
                if batch.is_empty() {
                    break;
                }
                for e in batch {
                    let fields: Vec<(String, String)> = e
                        .fields
                        .iter()
                        .filter(|(k, _)| k != "status" && k != "failed_at")
                        .cloned()
                        .collect();
                    self.store.stream_add(&keys::fanout(&pk), &fields).await?;
                    self.store.stream_del(&dead, &e.id).await?;
                    n += 1;
                }
            }
        }
        self.wake();
        Ok(n)
    }
}

/// Deliver forever: one worker per peer (spawned once per gateway).
pub async fn run(q: FanoutQueue) {
    if q.settings.fanout.peers.is_empty() {
        return;
    }
    let http = match peer_client(&q) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "fan-out disabled: cannot build HTTP client");
            return;
        }
    };
    let holder = random_token(12);
    let spawn = |peer| tokio::spawn(peer_worker(q.clone(), http.clone(), peer, holder.clone()));
    let workers = q.settings.fanout.peers.iter().cloned().map(spawn);
    futures_util::future::join_all(workers).await;
}

/// Deliver to one peer forever, with its own backoff. An idle worker wakes when this
/// replica queues an entry, or after `IDLE_POLL` (entries queued by other replicas, a
/// lease another replica gave up).
async fn peer_worker(q: FanoutQueue, http: reqwest::Client, peer: url::Url, holder: String) {
    const IDLE_POLL: Duration = Duration::from_millis(250);
    let mut queued = q.queued.subscribe();
    let mut backoff = Duration::from_millis(200);
    let pk = peer_key(&peer);
    loop {
        // whatever is queued from here on wakes the wait below
        queued.borrow_and_update();
        if let Err(e) = q.reconcile(&pk).await {
            tracing::warn!(peer = %peer, error = %e, "cannot check the fan-out outbox; will retry");
        }
        match deliver_some(&q, &http, &peer, &holder).await {
            Ok(0) => {
                backoff = Duration::from_millis(200);
                let _ = tokio::time::timeout(IDLE_POLL, queued.changed()).await;
            }
            Ok(_) => backoff = Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, retry_in_ms = backoff.as_millis() as u64, "fan-out delivery stopped; will retry");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn peer_client(q: &FanoutQueue) -> std::result::Result<reqwest::Client, crate::oidc::OidcError> {
    let mut b =
        crate::oidc::http_client_builder(5, q.settings.oidc.verifier.extra_roots_pem.as_deref())?;
    // RFC 6761 §6.3: *.localhost names are loopback (glibc here does not resolve them).
    for p in &q.settings.fanout.peers {
        if let Some(h) = p.host_str() {
            if h == "localhost" || h.ends_with(".localhost") {
                b = b.resolve(h, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            }
        }
    }
    b.build()
        .map_err(|e| crate::oidc::OidcError::Unavailable(e.to_string()))
}

/// Deliver queued tokens to one peer while holding its lease. Ok(n delivered).
async fn deliver_some(
    q: &FanoutQueue,
    http: &reqwest::Client,
    peer: &url::Url,
    holder: &str,
) -> std::result::Result<usize, DeliveryError> {
    let key = keys::fanout(&peer_key(peer));
    let lock = keys::fanout_lock(&peer_key(peer));
    if q.store.stream_len(&key).await? == 0 {
        return Ok(0);
    }
    if !q.store.lock_acquire(&lock, holder, LEASE_MS).await? {
        return Ok(0); // another replica delivers
    }
    let base = peer.as_str().trim_end_matches('/');
    let url = peer_endpoint(base, "/backchannel-logout");
    let admin_url = peer_endpoint(base, "/federation/revoke");
    let mut n = 0;
    let result = async {
        for entry in q.store.stream_head(&key, 32).await? {
            let Some((target, form)) = delivery(q, peer, &entry, &url, &admin_url) else {
                // An admin revocation for a peer that has no key any more (or a malformed
                // entry): it cannot be signed; keep it for the operator.
                tracing::warn!(peer = %peer, "cannot sign this revocation (no federation key for this peer, or a malformed entry); moved to the dead-letter stream");
                dead_letter(q, peer, &entry, "unsigned").await?;
                q.store.stream_del(&key, &entry.id).await?;
                n += 1;
                continue;
            };
            let resp = http.post(target).form(&form).send().await;
            match resp {
                Ok(r) if r.status().is_success() => {}
                Ok(r) if matches!(r.status().as_u16(), 400 | 403) => {
                    // The peer refused it for good (expired token, or a federation MAC it
                    // cannot verify during a key rotation): retrying now cannot help. Keep
                    // it for the operator in the dead-letter stream.
                    let status = r.status().as_u16();
                    tracing::warn!(peer = %peer, status, "peer refused a forwarded logout; moved to the dead-letter stream (replay: sso-gateway fanout replay-dead)");
                    dead_letter(q, peer, &entry, &status.to_string()).await?;
                }
                Ok(r) => return Err(DeliveryError::PeerStatus(r.status().as_u16())),
                Err(e) => return Err(DeliveryError::Unreachable(e.to_string())),
            }
            q.store.stream_del(&key, &entry.id).await?;
            n += 1;
            // A long batch (slow peer) must not outlive the lease: renew it after every
            // entry, and stop if another replica holds it now.
            if !q
                .store
                .lock_renew(&lock, holder, LEASE_MS)
                .await
                ?
            {
                tracing::warn!(peer = %peer, "fan-out lease lost during a batch; stopping");
                break;
            }
        }
        Ok(n)
    }
    .await;
    if let Err(e) = q.store.lock_release(&lock, holder).await {
        // The lease then lapses by itself after LEASE_MS.
        tracing::warn!(peer = %peer, error = %e, "could not release the fan-out lease");
    }
    result
}

/// Why a delivery round stopped; the entry stays queued and the peer's backoff grows.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the peer answered {0}")]
    PeerStatus(u16),
    #[error("the peer is unreachable: {0}")]
    Unreachable(String),
}

/// The endpoint and form for a queued entry, MAC'd now with the peer's current key.
/// Entries queued by older versions carry a `mac` (the shared key, no kid): it is ignored
/// and the entry re-signed, so they stay deliverable. `None`: a malformed entry, or an
/// admin revocation for a peer without a key (it cannot go unsigned).
fn delivery<'a>(
    q: &FanoutQueue,
    peer: &url::Url,
    entry: &crate::store::StreamEntry,
    url: &'a str,
    admin_url: &'a str,
) -> Option<(&'a str, Vec<(&'static str, String)>)> {
    use crate::federation::{admin_msg, forward_msg, Purpose};
    let keys = &q.settings.fanout.federation;
    let (target, mut form, signed) = match FanoutMessage::from_entry(entry) {
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e, "malformed fan-out entry");
            return None;
        }
        Ok(FanoutMessage::Revoke { sub, at }) => {
            let msg = admin_msg(&q.settings.oidc.verifier.issuer, &sub, at);
            let s = keys.sign(peer, Purpose::Admin, &msg)?;
            let form = vec![("sub", sub), ("received_at", at.to_string())];
            (admin_url, form, Some(s))
        }
        Ok(FanoutMessage::Logout { token, received_at }) => {
            // A peer without a key gets the token unsigned: it judges `exp` at its own clock.
            let signed = keys.sign(peer, Purpose::Forward, &forward_msg(received_at, &token));
            let form = vec![
                ("logout_token", token),
                ("forwarded", "1".to_string()),
                ("received_at", received_at.to_string()),
            ];
            (url, form, signed)
        }
    };
    if let Some(s) = signed {
        form.push(("federation_kid", s.kid));
        form.push(("federation_mac", s.tag));
    }
    Some((target, form))
}

async fn dead_letter(
    q: &FanoutQueue,
    peer: &url::Url,
    entry: &crate::store::StreamEntry,
    status: &str,
) -> std::result::Result<(), DeliveryError> {
    let mut fields: Vec<(String, String)> = entry
        .fields
        .iter()
        .filter(|(k, _)| k != "mac")
        .cloned()
        .collect();
    fields.push(("status".into(), status.to_string()));
    fields.push(("failed_at".into(), now().to_string()));
    q.store
        .stream_add(&keys::fanout_dead(&peer_key(peer)), &fields)
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::{peer_endpoint, peer_key, FanoutMessage, FanoutQueue, MalformedEntry};
    use crate::store::{keys, memory::MemoryStore, SessionStore, StreamEntry};
    use std::sync::Arc;

    /// The outbox forgets what left the stream (delivered, by any replica) and keeps what
    /// waits; when the store loses the stream and the guard, the next round queues what
    /// waited again, and only that.
    #[tokio::test]
    async fn the_outbox_forgets_delivered_entries_and_requeues_what_the_store_lost() {
        let key = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4";
        let settings = crate::config::Settings::from_toml(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://auth.a.test\"\n\
             [oidc]\nissuer = \"https://op.a.test\"\nclient_id = \"gw\"\nclient_secret = \"s\"\n\
             [cookie]\ndomain = \"a.test\"\nkeys = [\"{key}\"]\n\
             [redirect]\nallowed = [\"a.test\"]\n[store]\nkind = \"memory\"\n\
             [fanout]\npeers = [\"https://auth.b.test\"]\n"
        ))
        .unwrap();
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
        let q = FanoutQueue::new(store.clone(), Arc::new(settings));
        let peer = q.settings.fanout.peers[0].clone();
        let pk = peer_key(&peer);
        let stream = keys::fanout(&pk);
        for n in 0..3 {
            let msg = FanoutMessage::Revoke {
                sub: format!("user{n}"),
                at: n,
            };
            q.enqueue_for([&peer], &msg).await.unwrap();
        }
        // another replica delivered the oldest
        let head = store.stream_head(&stream, 1).await.unwrap();
        store.stream_del(&stream, &head[0].id).await.unwrap();
        q.reconcile(&pk).await.unwrap();
        assert_eq!(q.outbox.lock().await[&pk].entries.len(), 2);
        // the store loses the stream and the guard
        for e in store.stream_head(&stream, 10).await.unwrap() {
            store.stream_del(&stream, &e.id).await.unwrap();
        }
        let guard = q.outbox.lock().await[&pk].guard.clone().unwrap();
        store
            .lock_release(&keys::fanout_guard(&pk, &q.replica), &guard)
            .await
            .unwrap();
        q.reconcile(&pk).await.unwrap();
        let again: Vec<_> = store
            .stream_head(&stream, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| FanoutMessage::from_entry(e).unwrap())
            .collect();
        let sub = |n: i64| FanoutMessage::Revoke {
            sub: format!("user{n}"),
            at: n,
        };
        assert_eq!(again, vec![sub(1), sub(2)]);
        assert_eq!(q.requeued.load(std::sync::atomic::Ordering::Relaxed), 2);
        // a store that lost nothing: a round queues nothing again
        q.reconcile(&pk).await.unwrap();
        assert_eq!(store.stream_len(&stream).await.unwrap(), 2);
        // every entry delivered: the outbox is empty
        for e in store.stream_head(&stream, 10).await.unwrap() {
            store.stream_del(&stream, &e.id).await.unwrap();
        }
        q.reconcile(&pk).await.unwrap();
        assert!(q.outbox.lock().await[&pk].entries.is_empty());
    }

    #[test]
    fn messages_round_trip_through_stream_fields() {
        let entry = |m: &FanoutMessage| StreamEntry {
            id: "1-0".into(),
            fields: m.to_fields(),
        };
        for m in [
            FanoutMessage::Logout {
                token: "a.b.c".into(),
                received_at: 1_700_000_000,
            },
            FanoutMessage::Revoke {
                sub: "alice".into(),
                at: 1_700_000_001,
            },
        ] {
            assert_eq!(FanoutMessage::from_entry(&entry(&m)), Ok(m));
        }
        // an older version's entry with a stored `mac`, and a dead letter's extra fields
        let mut old = entry(&FanoutMessage::Logout {
            token: "t".into(),
            received_at: 5,
        });
        old.fields.push(("mac".into(), "x".into()));
        old.fields.push(("status".into(), "403".into()));
        assert!(FanoutMessage::from_entry(&old).is_ok());
        let bad = |fields: &[(&str, &str)]| {
            FanoutMessage::from_entry(&StreamEntry {
                id: "1-0".into(),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
        };
        assert_eq!(
            bad(&[("token", "t")]),
            Err(MalformedEntry::Missing("received_at"))
        );
        assert_eq!(
            bad(&[("token", "t"), ("received_at", "soon")]),
            Err(MalformedEntry::Time)
        );
        assert_eq!(
            bad(&[("kind", "admin"), ("received_at", "1")]),
            Err(MalformedEntry::Missing("sub"))
        );
    }

    #[test]
    fn peer_routes_default_to_sso_prefix() {
        assert_eq!(
            peer_endpoint("https://auth.b.com", "/backchannel-logout"),
            "https://auth.b.com/sso/backchannel-logout"
        );
        assert_eq!(
            peer_endpoint("https://auth.b.com/", "/logout/clear"),
            "https://auth.b.com/sso/logout/clear"
        );
        assert_eq!(
            peer_endpoint("https://b.com/auth/", "/logout/clear"),
            "https://b.com/auth/logout/clear"
        );
    }
}
