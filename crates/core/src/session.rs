//! Reading the caller's session from its cookies or bearer token.

use std::sync::Arc;

use serde::Serialize;

use crate::error::Result;
use crate::gateway::Gateway;
use crate::oidc::{AccessClaims, AccessTokenError};
use crate::secret::AccessToken;

/// `GET /sso/session` body (docs/architecture.md §4).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SessionView {
    pub authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl SessionView {
    pub fn anonymous() -> Self {
        Self {
            authenticated: false,
            sub: None,
            name: None,
            email: None,
            preferred_username: None,
            expires_at: None,
        }
    }
    pub fn from_claims(c: &AccessClaims) -> Self {
        Self {
            authenticated: true,
            sub: Some(c.sub.clone()),
            name: c.name.clone(),
            email: c.email.clone(),
            preferred_username: c.preferred_username.clone(),
            expires_at: Some(c.exp),
        }
    }
}

/// Why an access token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenVerdict {
    /// Shared with the verified-token cache: the hot path copies nothing.
    Valid(Arc<AccessClaims>),
    Expired,
    Invalid,
    Revoked,
}

impl Gateway {
    /// Verify an access token locally: signature with cached JWKS, claims, and the
    /// in-memory revocation cache. No store round trip while that cache is current; while
    /// it is not, the tombstones are read from the store.
    pub async fn check_access_token(&self, token: &AccessToken) -> Result<TokenVerdict> {
        match self.oidc.verify_access_token(token.secret()).await {
            // What the cache holds is never dropped before its expiry (even if the store
            // lost it, issue 8): a revocation it knows always counts.
            Ok(c)
                if self.revocations.is_revoked(
                    c.sid.as_deref(),
                    &c.sub,
                    c.iat,
                    c.jti.as_deref(),
                ) =>
            {
                Ok(TokenVerdict::Revoked)
            }
            Ok(c) if !self.revocations.is_ready() => {
                // The cache is (re)building after a (re)subscribe, or its subscription went
                // silent: ask the store too. If the store is down as well, a cache built
                // before still holds every revocation that could be written (nobody can write
                // tombstones now): use it. Never built: fail closed.
                match self.tombstoned_in_store(&c).await {
                    Ok(true) => Ok(TokenVerdict::Revoked),
                    Ok(false) => Ok(TokenVerdict::Valid(c)),
                    Err(e) if !self.revocations.was_built() => Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "store unavailable; using the last revocation cache");
                        Ok(self.cached_verdict(c))
                    }
                }
            }
            // the guard above already asked the revocation cache
            Ok(c) => Ok(TokenVerdict::Valid(c)),
            Err(AccessTokenError::Expired) => Ok(TokenVerdict::Expired),
            Err(AccessTokenError::Invalid(_)) => Ok(TokenVerdict::Invalid),
            Err(AccessTokenError::Provider(e)) => Err(e.into()),
        }
    }

    /// Would a revocation refuse this token? The cache, and the store while the cache is
    /// not current.
    pub(crate) async fn covered_by_revocation(&self, c: &AccessClaims) -> Result<bool> {
        if self
            .revocations
            .is_revoked(c.sid.as_deref(), &c.sub, c.iat, c.jti.as_deref())
        {
            return Ok(true);
        }
        if self.revocations.is_ready() {
            return Ok(false);
        }
        self.tombstoned_in_store(c).await
    }

    /// The revocation cache's verdict, asked again after an await (a revocation may have
    /// arrived meanwhile).
    fn cached_verdict(&self, c: Arc<AccessClaims>) -> TokenVerdict {
        if self
            .revocations
            .is_revoked(c.sid.as_deref(), &c.sub, c.iat, c.jti.as_deref())
        {
            TokenVerdict::Revoked
        } else {
            TokenVerdict::Valid(c)
        }
    }

    async fn tombstoned_in_store(&self, c: &AccessClaims) -> Result<bool> {
        Ok(crate::revocation::tombstoned_in_store(
            self.store.as_ref(),
            c.sid.as_deref(),
            &c.sub,
            c.iat,
            c.jti.as_deref(),
        )
        .await?)
    }
}
