//! Sessions: the one access-token verdict (the caller's session from its cookies or bearer
//! token), and the session service ([`Sessions`]) that reads and ends session records.

use std::sync::Arc;

use crate::api::Ended;
use crate::error::Result;
use crate::gateway::Gateway;
use crate::oidc::{AccessClaims, AccessTokenError, OidcError, TokenVerifier};
use crate::revocation::{RevocationCache, Revocations};
use crate::secret::AccessToken;
use crate::secret::SessionId;
use crate::store::{Index, Revocation, SessionRecord};
use crate::store::{SessionStore, StoreError};

/// Why an access token is refused: the one verdict of the gateway's checks and of resource
/// servers ([`judge_access_token`]).
#[derive(Debug, thiserror::Error)]
pub enum Unauthorized {
    #[error("no access token")]
    Missing,
    #[error("access token expired")]
    Expired,
    #[error("access token invalid")]
    Invalid,
    #[error("session revoked")]
    Revoked,
    /// The OP's keys could not be fetched (503/502, never "invalid"). The cause is for
    /// the logs, not the client's answer.
    #[error("identity provider keys unavailable")]
    ProviderUnavailable(OidcError),
    /// The revocation cache was never built and the store does not answer: fail closed.
    #[error("revocation state unavailable")]
    RevocationsUnavailable(StoreError),
    #[error("resource server not configured")]
    NotConfigured,
}

/// Verify an access token: signature and claims with the cached JWKS (and the
/// verified-token cache), then the revocation cache. No store round trip while that cache is
/// current; while it is not (rebuilding after a resubscribe, or its subscription went
/// silent), the store's tombstones are read too. If the store is down as well, a cache built
/// before still holds every revocation that could be written (nobody can write tombstones
/// now): it decides. Never built: fail closed. `store` is `None` for a resource server that
/// does not follow the gateways' revocations.
pub async fn judge_access_token(
    verifier: &TokenVerifier,
    cache: &RevocationCache,
    store: Option<&dyn SessionStore>,
    token: &str,
) -> std::result::Result<Arc<AccessClaims>, Unauthorized> {
    let c = verifier
        .verify_access_token(token)
        .await
        .map_err(|e| match e {
            AccessTokenError::Expired => Unauthorized::Expired,
            AccessTokenError::Invalid(_) => Unauthorized::Invalid,
            AccessTokenError::Provider(e) => Unauthorized::ProviderUnavailable(e),
        })?;
    // What the cache holds is never dropped before its expiry (even if the store lost it,
    // issue 8): a revocation it knows always counts.
    let revoked =
        |c: &AccessClaims| cache.is_revoked(c.sid.as_deref(), &c.sub, c.iat, c.jti.as_deref());
    if revoked(&c) {
        return Err(Unauthorized::Revoked);
    }
    let Some(store) = store.filter(|_| !cache.is_ready()) else {
        return Ok(c);
    };
    let (sid, jti) = (c.sid.as_deref(), c.jti.as_deref());
    match crate::revocation::tombstoned_in_store(store, sid, &c.sub, c.iat, jti).await {
        Ok(true) => Err(Unauthorized::Revoked),
        Ok(false) => Ok(c),
        Err(e) if !cache.was_built() => Err(Unauthorized::RevocationsUnavailable(e)),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable; using the last revocation cache");
            // asked again: a revocation may have arrived during the await
            if revoked(&c) {
                Err(Unauthorized::Revoked)
            } else {
                Ok(c)
            }
        }
    }
}

impl Gateway {
    /// [`judge_access_token`] with this gateway's verifier, revocation cache and store; the
    /// OP or the store failing is an error (502/503), every other refusal the verdict.
    pub async fn check_access_token(
        &self,
        token: &AccessToken,
    ) -> Result<std::result::Result<Arc<AccessClaims>, Unauthorized>> {
        let (cache, store) = (self.revocations.cache(), Some(self.store.as_ref()));
        match judge_access_token(self.oidc.verifier(), cache, store, token.secret()).await {
            Err(Unauthorized::ProviderUnavailable(e)) => Err(e.into()),
            Err(Unauthorized::RevocationsUnavailable(e)) => Err(e.into()),
            verdict => Ok(verdict),
        }
    }

    /// Would a revocation refuse this token? ([`crate::revocation::Revocations::covers`])
    pub(crate) async fn covered_by_revocation(&self, c: &AccessClaims) -> Result<bool> {
        let (sid, jti) = (c.sid.as_deref(), c.jti.as_deref());
        Ok(self.revocations.covers(sid, &c.sub, c.iat, jti).await?)
    }
}

/// The session service: the session records in the store and ending them. Ending a session
/// revokes its tokens first ([`Revocations`]), so no check sees the session gone while its
/// token still passes. Its dependencies are the store and the revocation service; the
/// gateway holds one (docs/architecture.md §2.1).
#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    revocations: Arc<Revocations>,
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, revocations: Arc<Revocations>) -> Self {
        Self { store, revocations }
    }

    /// The sessions of a subject, oldest first (the operator's listing).
    pub async fn of_subject(&self, iss: &str, sub: &str) -> Result<Vec<SessionRecord>> {
        let mut out = Vec::new();
        for id in self.store.lookup(Index::Sub, iss, sub).await? {
            out.extend(self.store.get_session(&id).await?);
        }
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    /// End one session now: revoke its current access token on every replica, then delete
    /// it (in that order, so no check sees the session gone while its token still passes).
    pub async fn end(&self, rec: &SessionRecord) -> Result<()> {
        self.revoke_access_token(rec).await?;
        self.store.delete_session(&rec.id).await?;
        Ok(())
    }

    /// Revoke a session's current access token (`jti`) on every replica.
    pub async fn revoke_access_token(&self, rec: &SessionRecord) -> Result<()> {
        if let Some(jti) = &rec.access_jti {
            self.revocations
                .revoke_token(jti, rec.access_expires_at)
                .await?;
        }
        Ok(())
    }

    /// Delete a session that is already over (revoked, expired, unusable): cleanup, so a
    /// store failure is logged rather than failing the request that found it (the session
    /// is refused either way, and expires from the store by its own TTL).
    pub async fn discard(&self, id: &SessionId, during: &'static str) {
        if let Err(e) = self.store.delete_session(id).await {
            tracing::warn!(error = %e, during, "could not delete an ended session; it expires by its TTL");
        }
    }

    /// End every session of an OP session (`sid`) or, without `sid`, of a subject, created
    /// at or before `cut` (when the logout happened: now, or the original time of a
    /// forwarded logout); write the tombstone (tokens issued at or before `cut`) and publish
    /// it so every replica's revocation cache learns it. A session created after `cut` (a
    /// login after the logout, reached by a late delivery) is left alone.
    pub async fn end_sessions(
        &self,
        iss: &str,
        sid: Option<&str>,
        sub: Option<&str>,
        all_of_sub: bool,
        cut: i64,
    ) -> Result<Ended> {
        let sub = sub.filter(|_| sid.is_none() || all_of_sub);
        let (mut ids, mut tombstones) = (Vec::new(), Vec::new());
        if let Some(sid) = sid {
            ids.extend(self.store.lookup(Index::Sid, iss, sid).await?);
            let sid = sid.to_string();
            tombstones.push(Revocation::Sid { sid, before: cut });
        }
        if let Some(sub) = sub {
            ids.extend(self.store.lookup(Index::Sub, iss, sub).await?);
            let sub = sub.to_string();
            tombstones.push(Revocation::Sub { sub, before: cut });
        }
        ids.sort_by(|a, b| a.secret().cmp(b.secret()));
        ids.dedup();
        // Tombstones first, so every replica's revocation cache refuses the live access
        // tokens no later than their sessions disappear from the store (a check between
        // the two must never see "no session" yet accept the token).
        for t in &tombstones {
            self.revocations.revoke_sessions(t).await?;
        }
        // The cut-off: tokens issued until the logout. A later login on the same OP session
        // (the OP may never have heard of this logout) is not covered.
        let sessions = self.end_listed(&ids, |rec| rec.created_at <= cut).await?;
        Ok(Ended { sessions })
    }

    /// End every session of a subject created until `cut` (operator and federation
    /// revocations), with the subject's tombstone.
    pub async fn end_subject(&self, iss: &str, sub: &str, cut: i64) -> Result<Ended> {
        self.end_sessions(iss, None, Some(sub), true, cut).await
    }

    /// End each listed session that `ends` accepts: its current access token is revoked by
    /// jti (it may carry no sid) before the session goes, and again if a refresh rotated it
    /// in between. Returns how many were deleted here.
    pub(crate) async fn end_listed(
        &self,
        ids: &[crate::secret::SessionId],
        ends: impl Fn(&crate::store::SessionRecord) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        for id in ids {
            let rec = match self.store.get_session(id).await? {
                Some(rec) if ends(&rec) => rec,
                _ => continue,
            };
            self.revoke_access_token(&rec).await?;
            if let Some(last) = self.store.delete_session(id).await? {
                n += 1;
                if last.access_jti != rec.access_jti {
                    self.revoke_access_token(&last).await?;
                }
            }
        }
        Ok(n)
    }

    /// End the sessions of `sub` created until `cut` that carry no `sid`.
    ///
    /// A forwarded logout names the OP session (`sid`) the first gateway knew. Sessions here
    /// of the same subject that carry no `sid` (the OP gave this client none: an OP that puts
    /// `sid` only in the ID tokens of clients registered for back-channel logout, as
    /// oidc-provider does, while this gateway learns of logouts only through its peers)
    /// cannot be told apart by `sid`, so they end too: fan-out must not miss a logout only
    /// because this client has no session id. Sessions with another `sid` stay (BCL 1.0 §2.5:
    /// with a `sid`, only that OP session ends).
    pub async fn end_sidless(&self, iss: &str, sub: &str, cut: i64) -> Result<usize> {
        let ids = self.store.lookup(Index::Sub, iss, sub).await?;
        self.end_listed(&ids, |rec| rec.sid.is_none() && rec.created_at <= cut)
            .await
    }
}
