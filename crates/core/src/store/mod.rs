//! Session state (docs/architecture.md §11). One trait, a Redis implementation for production and an
//! in-memory one for the demo and unit tests, both held to the same acceptance suite (`acceptance`, built for tests only).

pub mod memory;
pub mod redis;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, IdToken, RefreshToken, SessionId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session store returned corrupt data: {0}")]
    Corrupt(String),
}

/// A server-side session (the hash `sso:sess:{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub iss: String,
    pub sub: String,
    pub sid: Option<String>,
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<IdToken>,
    pub access_expires_at: i64,
    pub refresh_expires_at: Option<i64>,
    pub created_at: i64,
    /// Absolute end of the session (session max lifetime).
    pub expires_at: i64,
    /// The refresh generation (docs/architecture.md §1): 0 at login, +1 per refresh; the
    /// `sso_rt` handle carries it as `g`. Stored as `version` (the record JSON and the
    /// compare-and-set hash field).
    #[serde(rename = "version")]
    pub generation: u64,
    /// When the current generation was made (start of the grace window for the previous one).
    pub refreshed_at: i64,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `jti` of the current access token (to revoke exactly it).
    #[serde(default)]
    pub access_jti: Option<String>,
}

impl SessionRecord {
    /// The index keys listing this session: its subject's, and its OP session's if any.
    pub(crate) fn index_keys(&self) -> Vec<String> {
        let mut v = vec![keys::index(Index::Sub, &self.iss, &self.sub)];
        if let Some(sid) = &self.sid {
            v.push(keys::index(Index::Sid, &self.iss, sid));
        }
        v
    }
}

/// The secondary indexes (docs/architecture.md §11: `sso:sid:{…}`, `sso:sub:{…}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Sid,
    Sub,
}

/// An entry of the revocation cache: every access token matching it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Revocation {
    /// The tokens of an OP session (the `sid` claim they carry) issued at or before `before`.
    /// A later login on the same OP session (the OP never heard of the logout) is not
    /// covered. Tombstones written before `before` existed revoke the whole OP session.
    Sid {
        sid: String,
        #[serde(default = "revoke_all")]
        before: i64,
    },
    /// Every token of a subject issued at or before `before` (logout without `sid`).
    Sub { sub: String, before: i64 },
    /// One access token (`jti`), e.g. after refresh-token reuse.
    Token { jti: String },
}

fn revoke_all() -> i64 {
    i64::MAX
}

impl Revocation {
    /// The tombstone key name part inside the hash tag.
    pub fn tombstone_id(&self) -> String {
        match self {
            Revocation::Sid { sid, .. } => sid.clone(),
            Revocation::Sub { sub, .. } => format!("sub:{sub}"),
            Revocation::Token { jti } => format!("jti:{jti}"),
        }
    }

    /// This revocation with the later cut-off of itself and `stored` (the tombstone of the
    /// same id): a cut-off never moves back, so a late revocation with an earlier cut (a
    /// fan-out delivered after a peer was down) cannot reopen tokens a later one refused.
    pub fn at_least(mut self, stored: Option<Revocation>) -> Revocation {
        use Revocation::{Sid, Sub};
        match (&mut self, stored) {
            (Sid { before, .. }, Some(Sid { before: b, .. }))
            | (Sub { before, .. }, Some(Sub { before: b, .. })) => *before = (*before).max(b),
            _ => {}
        }
        self
    }

    /// Does this revocation cover a token with these claims?
    pub fn covers(&self, sid: Option<&str>, sub: &str, iat: i64, jti: Option<&str>) -> bool {
        match self {
            Revocation::Sid { sid: s, before } => sid == Some(s.as_str()) && iat <= *before,
            Revocation::Sub { sub: s, before } => sub == s && iat <= *before,
            Revocation::Token { jti: j } => jti == Some(j.as_str()),
        }
    }
}

/// A live tombstone: the revocation and when it expires (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub revocation: Revocation,
    pub until: i64,
}

/// What goes over `sso:revocations`: a revocation with its expiry, or a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Published {
    #[serde(flatten)]
    pub revocation: Revocation,
    #[serde(default)]
    pub until: Option<i64>,
}

pub(crate) fn encode(v: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The heartbeat payload on `sso:revocations` (never a valid [`Revocation`]).
pub const HEARTBEAT: &str = r#"{"kind":"heartbeat"}"#;
/// "A session refresh finished somewhere": wakes refresh waiters on every replica.
pub const REFRESHED: &str = r#"{"kind":"refreshed"}"#;

/// Parse a message from `sso:revocations`. `default_until` applies to messages from older
/// gateways that do not carry their expiry.
pub(crate) fn parse_message(payload: &str, default_until: i64) -> Option<BusEvent> {
    match payload {
        HEARTBEAT => Some(BusEvent::Heartbeat),
        REFRESHED => Some(BusEvent::Refreshed),
        _ => serde_json::from_str(payload).ok().map(|p: Published| {
            BusEvent::Revoked(Tombstone {
                revocation: p.revocation,
                until: p.until.unwrap_or(default_until),
            })
        }),
    }
}

/// What a revocation subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// (Re)subscribed: the listener must rebuild from [`SessionStore::tombstones`].
    Subscribed,
    Revoked(Tombstone),
    /// A replica's liveness beacon: proves this subscription still delivers.
    Heartbeat,
    /// A refresh finished on some replica: waiters re-read their session.
    Refreshed,
}

#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Create a session and its sid/sub indexes; `ttl` seconds.
    async fn put_session(&self, s: &SessionRecord, ttl: i64) -> Result<(), StoreError>;
    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// Replace a session only if its stored generation is still `expected_generation`.
    async fn update_session(
        &self,
        s: &SessionRecord,
        expected_generation: u64,
        ttl: i64,
    ) -> Result<bool, StoreError>;
    /// Delete a session and remove it from its indexes; returns what was deleted.
    async fn delete_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    async fn lookup(
        &self,
        index: Index,
        iss: &str,
        value: &str,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// Set a single-use mark for `ttl` seconds; false if it was already set.
    async fn mark_once(&self, key: &str, ttl: i64) -> Result<bool, StoreError>;
    async fn lock_acquire(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError>;
    async fn lock_renew(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, StoreError>;
    async fn lock_release(&self, key: &str, token: &str) -> Result<(), StoreError>;
    /// Write the tombstone (`ttl` seconds; its cut-off never lower than the stored one's,
    /// [`Revocation::at_least`]) and publish on `sso:revocations`.
    async fn revoke(&self, r: &Revocation, ttl: i64) -> Result<(), StoreError> {
        let r = &r.clone().at_least(self.tombstone(&r.tombstone_id()).await?);
        let ttl = ttl.max(1);
        let until = crate::util::now() + ttl;
        self.put_tombstone(r, until, ttl, false).await?;
        let published = Published {
            revocation: r.clone(),
            until: Some(until),
        };
        self.publish(&encode(&published)?).await
    }
    /// Write a tombstone expiring at `until` (in `ttl` seconds) and list it in the index,
    /// without publishing it; `keep`: a tombstone key that exists stays as it is.
    async fn put_tombstone(
        &self,
        r: &Revocation,
        until: i64,
        ttl: i64,
        keep: bool,
    ) -> Result<(), StoreError>;
    /// Publish a message on `sso:revocations`.
    async fn publish(&self, payload: &str) -> Result<(), StoreError>;
    /// One tombstone by its id ([`Revocation::tombstone_id`]), if live.
    async fn tombstone(&self, id: &str) -> Result<Option<Revocation>, StoreError>;
    /// Live tombstones, for rebuilding a revocation cache (expired index entries are
    /// pruned first).
    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError>;
    /// Write back tombstones the store lost (restart, flush, failover to an empty replica),
    /// each until its own expiry, without publishing them. A tombstone key that exists is
    /// kept as it is.
    async fn restore(&self, lost: &[Tombstone]) -> Result<(), StoreError> {
        let now = crate::util::now();
        for t in lost.iter().filter(|t| t.until > now) {
            // NX: a tombstone written since (a newer logout of the same sid) stays.
            self.put_tombstone(&t.revocation, t.until, t.until - now, true)
                .await?;
        }
        Ok(())
    }
    /// Publish a heartbeat on `sso:revocations`.
    async fn heartbeat(&self) -> Result<(), StoreError> {
        self.publish(HEARTBEAT).await
    }
    /// Publish "a refresh finished" on `sso:revocations`.
    async fn refreshed(&self) -> Result<(), StoreError> {
        self.publish(REFRESHED).await
    }
    /// Is a single-use mark set?
    async fn mark_exists(&self, key: &str) -> Result<bool, StoreError>;
    /// Subscribe to `sso:revocations`; yields `Subscribed` after every (re)subscribe.
    async fn subscribe(&self) -> Result<BoxStream<'static, BusEvent>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Append to a stream (`XADD`); returns the entry id.
    async fn stream_add(
        &self,
        key: &str,
        fields: &[(String, String)],
    ) -> Result<String, StoreError>;
    /// The oldest `count` entries of a stream.
    async fn stream_head(&self, key: &str, count: usize) -> Result<Vec<StreamEntry>, StoreError>;
    async fn stream_del(&self, key: &str, id: &str) -> Result<(), StoreError>;
    async fn stream_len(&self, key: &str) -> Result<u64, StoreError>;
}

/// One stream entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl StreamEntry {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Redis key names (docs/architecture.md §11). Hash tags keep one session's keys in one Cluster slot.
pub mod keys {
    pub fn session(id: &str) -> String {
        format!("sso:sess:{{{id}}}")
    }
    pub fn index(kind: super::Index, iss: &str, value: &str) -> String {
        let ih = crate::util::iss_hash(iss);
        match kind {
            super::Index::Sid => format!("sso:sid:{{{ih}:{value}}}"),
            super::Index::Sub => format!("sso:sub:{{{ih}:{value}}}"),
        }
    }
    pub fn revoked(id: &str) -> String {
        format!("sso:revoked:{{{id}}}")
    }
    pub const REVOKED_INDEX: &str = "sso:revoked:index";
    pub const CHANNEL: &str = "sso:revocations";
    pub fn jti(jti: &str) -> String {
        format!("sso:jti:{{{jti}}}")
    }
    pub fn state(state_hash: &str) -> String {
        format!("sso:state:{{{state_hash}}}")
    }
    pub fn refresh_lock(id: &str) -> String {
        format!("sso:lock:refresh:{{{id}}}")
    }
    pub fn fanout(peer: &str) -> String {
        format!("sso:fanout:{peer}")
    }
    pub fn fanout_dead(peer: &str) -> String {
        format!("sso:fanout:dead:{peer}")
    }
    /// A replica's fan-out guard (`crate::fanout`): in the Cluster slot of the peer's
    /// stream, whose key has no hash tag and so hashes whole.
    pub fn fanout_guard(peer: &str, replica: &str) -> String {
        format!("{{sso:fanout:{peer}}}:guard:{replica}")
    }
    pub fn fanout_lock(peer: &str) -> String {
        format!("sso:lock:fanout:{{{peer}}}")
    }
}

/// The acceptance suite every [`SessionStore`] must pass: test support, built for this
/// crate's unit tests and, with the `test-support` feature, for the integration tests that
/// run it against real Redis, Sentinel and Cluster; never part of the gateway's binary.
#[cfg(any(test, feature = "test-support"))]
pub mod acceptance {
    use super::*;
    use futures_util::StreamExt;

    /// A session record of `sub` in OP session `sid`, created now, access token `jti-1`.
    pub fn record(id: &str, sid: &str, sub: &str) -> SessionRecord {
        let now = crate::util::now();
        SessionRecord {
            id: SessionId::new(id),
            iss: "https://op.example/realms/x".into(),
            sub: sub.into(),
            sid: Some(sid.into()),
            access_token: AccessToken::new("at"),
            refresh_token: Some(RefreshToken::new("rt")),
            id_token: Some(IdToken::new("idt")),
            access_expires_at: now + 300,
            refresh_expires_at: Some(now + 1800),
            created_at: now,
            expires_at: now + 3600,
            generation: 0,
            refreshed_at: now,
            preferred_username: Some("alice".into()),
            email: None,
            name: Some("Alice".into()),
            access_jti: Some("jti-1".into()),
        }
    }

    /// Run every check; panics (test context) on the first failure with a message.
    #[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
    pub async fn run(store: &dyn SessionStore) {
        let uniq = crate::util::random_token(6);
        let id1 = format!("s1-{uniq}");
        let id2 = format!("s2-{uniq}");
        let sid = format!("sid-{uniq}");
        let sub = format!("sub-{uniq}");
        let a = record(&id1, &sid, &sub);
        let b = record(&id2, &format!("other-{sid}"), &sub);
        store.put_session(&a, 60).await.unwrap();
        store.put_session(&b, 60).await.unwrap();

        // round trip
        assert_eq!(
            store.get_session(&a.id).await.unwrap().as_ref(),
            Some(&a),
            "round trip"
        );
        assert_eq!(
            store.get_session(&SessionId::new("nope")).await.unwrap(),
            None
        );

        // indexes
        let by_sid = store.lookup(Index::Sid, &a.iss, &sid).await.unwrap();
        assert_eq!(by_sid, vec![a.id.clone()], "sid index");
        let mut by_sub = store.lookup(Index::Sub, &a.iss, &sub).await.unwrap();
        by_sub.sort_by(|x, y| x.secret().cmp(y.secret()));
        assert_eq!(by_sub, vec![a.id.clone(), b.id.clone()], "sub index");
        assert!(
            store
                .lookup(Index::Sid, "https://other", &sid)
                .await
                .unwrap()
                .is_empty(),
            "index is per issuer"
        );

        // compare-and-set update
        let mut a2 = a.clone();
        a2.generation = 1;
        a2.access_token = AccessToken::new("at2");
        assert!(
            store.update_session(&a2, 0, 60).await.unwrap(),
            "CAS with right version"
        );
        assert!(
            !store.update_session(&a2, 0, 60).await.unwrap(),
            "CAS with stale version"
        );
        assert_eq!(
            store
                .get_session(&a.id)
                .await
                .unwrap()
                .unwrap()
                .access_token
                .secret(),
            "at2"
        );
        let ghost = record(&format!("ghost-{uniq}"), "x", "y");
        assert!(
            !store.update_session(&ghost, 0, 60).await.unwrap(),
            "CAS on missing session"
        );
        assert_eq!(
            store.get_session(&ghost.id).await.unwrap(),
            None,
            "CAS must not create"
        );

        // delete removes from indexes
        let gone = store.delete_session(&a.id).await.unwrap();
        assert_eq!(gone.map(|g| g.generation), Some(1));
        assert_eq!(store.get_session(&a.id).await.unwrap(), None);
        assert!(
            store
                .lookup(Index::Sid, &a.iss, &sid)
                .await
                .unwrap()
                .is_empty(),
            "sid index cleaned"
        );
        assert_eq!(
            store.lookup(Index::Sub, &a.iss, &sub).await.unwrap(),
            vec![b.id.clone()]
        );
        assert_eq!(
            store.delete_session(&a.id).await.unwrap(),
            None,
            "delete twice"
        );

        // single use marks
        let k = format!("sso:state:{{{uniq}}}");
        assert!(!store.mark_exists(&k).await.unwrap());
        assert!(store.mark_once(&k, 60).await.unwrap());
        assert!(store.mark_exists(&k).await.unwrap());
        assert!(
            !store.mark_once(&k, 60).await.unwrap(),
            "second use refused"
        );

        // locks
        let lk = keys::refresh_lock(&uniq);
        assert!(store.lock_acquire(&lk, "t1", 5_000).await.unwrap());
        assert!(
            !store.lock_acquire(&lk, "t2", 5_000).await.unwrap(),
            "lock is exclusive"
        );
        assert!(
            !store.lock_renew(&lk, "t2", 5_000).await.unwrap(),
            "only the holder renews"
        );
        assert!(store.lock_renew(&lk, "t1", 5_000).await.unwrap());
        store.lock_release(&lk, "t2").await.unwrap();
        assert!(
            !store.lock_acquire(&lk, "t3", 5_000).await.unwrap(),
            "non-holder cannot release"
        );
        store.lock_release(&lk, "t1").await.unwrap();
        assert!(
            store.lock_acquire(&lk, "t3", 100).await.unwrap(),
            "released lock is free"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        assert!(
            store.lock_acquire(&lk, "t4", 100).await.unwrap(),
            "lease expires"
        );

        // revocation: tombstone + publish
        let mut sub_stream = store.subscribe().await.unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), sub_stream.next())
            .await
            .expect("subscribe event");
        assert_eq!(first, Some(BusEvent::Subscribed));
        let rev = Revocation::Sid {
            sid: sid.clone(),
            before: crate::util::now(),
        };
        store.revoke(&rev, 60).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), sub_stream.next())
            .await
            .expect("published revocation");
        match got {
            Some(BusEvent::Revoked(t)) => {
                assert_eq!(t.revocation, rev);
                assert!((t.until - crate::util::now() - 60).abs() <= 2, "until");
            }
            other => panic!("expected the revocation, got {other:?}"),
        }
        assert!(
            store
                .tombstones()
                .await
                .unwrap()
                .iter()
                .any(|t| t.revocation == rev),
            "tombstone listed"
        );
        // heartbeats reach subscribers
        store.heartbeat().await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), sub_stream.next())
            .await
            .expect("heartbeat");
        assert_eq!(got, Some(BusEvent::Heartbeat));
        // restore writes back a lost tombstone (not published) and keeps existing ones
        let lost = Tombstone {
            revocation: Revocation::Token {
                jti: format!("lost-{uniq}"),
            },
            until: crate::util::now() + 60,
        };
        store.restore(std::slice::from_ref(&lost)).await.unwrap();
        assert_eq!(
            store
                .tombstone(&lost.revocation.tombstone_id())
                .await
                .unwrap(),
            Some(lost.revocation.clone()),
            "restored"
        );
        assert!(store.tombstones().await.unwrap().contains(&lost));
        assert_eq!(
            store.tombstone(&rev.tombstone_id()).await.unwrap(),
            Some(rev.clone())
        );
        assert_eq!(store.tombstone("nope").await.unwrap(), None);
        // a cut-off never moves back: a late revocation of the same OP session with an
        // earlier cut (a delayed fan-out) keeps the later one; a later cut raises it
        let cut = |before| Revocation::Sid {
            sid: sid.clone(),
            before,
        };
        store.revoke(&cut(5), 60).await.unwrap();
        let stored = store.tombstone(&rev.tombstone_id()).await.unwrap();
        assert_eq!(stored, Some(rev.clone()), "a later cut-off stays");
        store.revoke(&cut(i64::MAX), 60).await.unwrap();
        let stored = store.tombstone(&rev.tombstone_id()).await.unwrap();
        assert_eq!(stored, Some(cut(i64::MAX)), "a later cut-off raises it");
        let short = Revocation::Sub {
            sub: sub.clone(),
            before: 5,
        };
        store.revoke(&short, 1).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(
            !store
                .tombstones()
                .await
                .unwrap()
                .iter()
                .any(|t| t.revocation == short),
            "tombstones expire"
        );

        store.ping().await.unwrap();
        store.delete_session(&b.id).await.unwrap();

        // streams: FIFO, delete by id
        let sk = format!("sso:fanout:test-{uniq}");
        let id1 = store
            .stream_add(&sk, &[("token".into(), "t1".into())])
            .await
            .unwrap();
        store
            .stream_add(&sk, &[("token".into(), "t2".into())])
            .await
            .unwrap();
        assert_eq!(store.stream_len(&sk).await.unwrap(), 2);
        let head = store.stream_head(&sk, 10).await.unwrap();
        assert_eq!(
            head.iter()
                .map(|e| e.field("token").unwrap())
                .collect::<Vec<_>>(),
            vec!["t1", "t2"]
        );
        store.stream_del(&sk, &id1).await.unwrap();
        let head = store.stream_head(&sk, 10).await.unwrap();
        assert_eq!(head.len(), 1);
        assert_eq!(head[0].field("token"), Some("t2"));
    }
}
