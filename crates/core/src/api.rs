//! The types a request presents and its answers are made of, shared by the flows (login,
//! forward-auth, session, refresh, logout) and the HTTP layer: a neutral module, so that no
//! flow reaches into another flow's module for them (docs/architecture.md §2).

use std::sync::Arc;

use cookie::Cookie;
use serde::Serialize;

use crate::cookies::RefreshHandle;
use crate::oidc::AccessClaims;
use crate::secret::AccessToken;

/// A redirect plus the cookies to set with it.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub cookies: Vec<Cookie<'static>>,
}

/// What a request presents.
pub struct Presented {
    pub access: Option<AccessToken>,
    /// How many `sso_at` chunks the browser sent (to clear leftovers).
    pub chunks: usize,
    /// The sealed `sso_rt` value, opened only when a refresh (or the session) is needed:
    /// the hot path with a valid access token never decrypts it.
    pub(crate) refresh_sealed: Option<String>,
    pub(crate) refresh: std::sync::OnceLock<Option<RefreshHandle>>,
    /// `sso_rt` was present (even if it did not open).
    pub had_refresh_cookie: bool,
    pub bearer: Option<AccessToken>,
}

impl Presented {
    pub fn has_cookies(&self) -> bool {
        self.chunks > 0 || self.had_refresh_cookie
    }
}

/// The caller is signed in.
#[derive(Debug)]
pub struct Allowed {
    pub claims: Arc<AccessClaims>,
    pub access_token: AccessToken,
    /// New cookies after a refresh (empty on the hot path).
    pub set_cookies: Vec<Cookie<'static>>,
}

/// The caller is not signed in; `set_cookies` clears what it still holds.
#[derive(Debug)]
pub struct Denied {
    pub reason: &'static str,
    pub set_cookies: Vec<Cookie<'static>>,
}

#[derive(Debug)]
pub enum AuthOutcome {
    Allowed(Box<Allowed>),
    Denied(Denied),
}

impl AuthOutcome {
    pub(crate) fn allowed(a: Allowed) -> Self {
        AuthOutcome::Allowed(Box::new(a))
    }
}

/// `GET /sso/session` body (docs/architecture.md §4).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
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
    /// Not signed in: `authenticated: false` and nothing else.
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

/// What ending sessions did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Ended {
    pub sessions: usize,
}
