//! Reading the caller's session from its cookies or bearer token.

use std::sync::Arc;

use crate::error::Result;
use crate::gateway::Gateway;
use crate::oidc::{AccessClaims, AccessTokenError, OidcError, TokenVerifier};
use crate::revocation::RevocationCache;
use crate::secret::AccessToken;
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
        let store = Some(self.store.as_ref());
        let verifier = self.oidc.verifier();
        match judge_access_token(verifier, self.revocations.cache(), store, token.secret()).await {
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
