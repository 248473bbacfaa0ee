//! For Rust resource servers on sibling subdomains: verify the token a request presents (the
//! joined `sso_at` cookie or an `Authorization: Bearer` token) with the cached JWKS and the
//! revocation cache. Framework-free: the actix-web extractor that answers `401`/`503` is in
//! the `sso-actix` crate.

use std::sync::Arc;

use crate::config::VerifierSettings;
use crate::oidc::{AccessClaims, OidcError, TokenVerifier};
use crate::revocation::RevocationCache;
use crate::secret::AccessToken;
pub use crate::session::Unauthorized;

/// Verifier state shared by a resource server's workers (`web::Data<ResourceServer>`).
#[derive(Debug)]
pub struct ResourceServer {
    verifier: TokenVerifier,
    pub revocations: Arc<RevocationCache>,
    /// Set by [`ResourceServer::follow_revocations`]: while the cache is not current, the
    /// tombstones are read from this store, and a token is refused (503) when neither
    /// answers and the cache was never built (fail closed).
    store: std::sync::OnceLock<Arc<dyn crate::store::SessionStore>>,
}

impl ResourceServer {
    /// `accepted_clients`: tokens must carry one of them in `azp` or `client_id` (empty: any).
    pub fn new(
        issuer: &str,
        allowed_algs: Vec<String>,
        accepted_clients: Vec<String>,
    ) -> Result<Self, OidcError> {
        Self::with_clock_leeway(issuer, allowed_algs, accepted_clients, 30)
    }

    /// As [`ResourceServer::new`], with `leeway_secs` (0–60) of clock skew allowed on
    /// `exp`/`iat` instead of 30.
    pub fn with_clock_leeway(
        issuer: &str,
        allowed_algs: Vec<String>,
        accepted_clients: Vec<String>,
        leeway_secs: i64,
    ) -> Result<Self, OidcError> {
        // a verifier alone: a resource server holds no client credentials
        let settings = VerifierSettings {
            issuer: issuer.to_string(),
            allowed_algs,
            clock_leeway_secs: leeway_secs.clamp(0, 60),
            jwks_min_refetch_secs: 10,
            jwks_max_age_secs: 300,
            verified_token_cache_size: crate::config::DEFAULT_VERIFIED_TOKEN_CACHE_SIZE,
            http_timeout_secs: 10,
            extra_roots_pem: None,
            accepted_clients,
            accept_audience_only: false,
        };
        Ok(Self {
            verifier: TokenVerifier::new(settings)?,
            revocations: Arc::new(RevocationCache::default()),
            store: std::sync::OnceLock::new(),
        })
    }

    /// Feed the revocation cache from the gateways' store (`sso:revocations` plus the
    /// tombstones), so a logout anywhere is refused here at once, not only at token expiry.
    /// Call from inside the runtime (e.g. in `main` before `HttpServer::run`).
    pub fn follow_revocations(&self, store: Arc<dyn crate::store::SessionStore>) {
        let cache = self.revocations.clone();
        let _ = self.store.set(store.clone());
        tokio::spawn(async move {
            crate::revocation::run_listener(store, cache, Default::default()).await
        });
    }

    /// [`crate::session::judge_access_token`]: the same checks as the gateway's.
    pub async fn verify(&self, token: &AccessToken) -> Result<Arc<AccessClaims>, Unauthorized> {
        let store = self.store.get().map(|s| s.as_ref());
        crate::session::judge_access_token(&self.verifier, &self.revocations, store, token.secret())
            .await
    }
}

/// The token a request presents: `Authorization: Bearer <token>` (any case of the scheme),
/// else the joined `sso_at` chunks of its `Cookie` headers. Framework-free: a web framework's
/// glue passes the header values (`sso-actix` does for actix-web).
pub fn presented_token<'a>(
    authorization: Option<&str>,
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> Option<AccessToken> {
    crate::cookies::bearer(authorization).or_else(|| {
        let jar = crate::cookies::RequestCookies::parse(cookie_headers);
        crate::cookies::join_access(|n| jar.get(n).map(str::to_string)).0
    })
}
