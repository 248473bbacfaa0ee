//! For Rust resource servers on sibling subdomains: an actix-web extractor that reads the
//! joined `sso_at` cookie or an `Authorization: Bearer` token, verifies it with the cached
//! JWKS and the revocation cache, and answers `401` otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::config::OidcSettings;
use crate::oidc::{AccessClaims, AccessTokenError, OidcClient, OidcError};
use crate::revocation::RevocationCache;
use crate::secret::{AccessToken, ClientSecret};

/// Verifier state shared by a resource server's workers (`web::Data<ResourceServer>`).
#[derive(Debug)]
pub struct ResourceServer {
    oidc: OidcClient,
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
        let settings = OidcSettings {
            issuer: issuer.to_string(),
            client_id: String::new(),
            client_secret: ClientSecret::new(""),
            auth_method: crate::config::AuthMethod::ClientSecretBasic,
            scopes: vec![],
            allowed_algs,
            pass_params: vec![],
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
            oidc: OidcClient::new(settings, String::new())?,
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

    pub async fn verify(&self, token: &AccessToken) -> Result<AccessClaims, Unauthorized> {
        let c = match self.oidc.verify_access_token(token.secret()).await {
            Ok(c) => c,
            Err(AccessTokenError::Expired) => return Err(Unauthorized::Expired),
            Err(AccessTokenError::Invalid(_)) => return Err(Unauthorized::Invalid),
            Err(AccessTokenError::Provider(_)) => return Err(Unauthorized::ProviderUnavailable),
        };
        let (sid, jti) = (c.sid.as_deref(), c.jti.as_deref());
        if self.revocations.is_revoked(sid, &c.sub, c.iat, jti) {
            return Err(Unauthorized::Revoked);
        }
        // Following the gateways' revocations but the cache is not current (not built yet,
        // or its subscription went silent): ask the store; fail closed if it never was built.
        if let Some(store) = self.store.get() {
            if !self.revocations.is_ready() {
                match crate::revocation::tombstoned_in_store(
                    store.as_ref(),
                    sid,
                    &c.sub,
                    c.iat,
                    jti,
                )
                .await
                {
                    Ok(true) => return Err(Unauthorized::Revoked),
                    Ok(false) => {}
                    Err(_) if self.revocations.was_built() => {}
                    Err(_) => return Err(Unauthorized::RevocationsUnavailable),
                }
            }
        }
        Ok(c)
    }
}

/// The token from `Authorization: Bearer` or the joined `sso_at` chunks.
pub fn token_from_request(req: &HttpRequest) -> Option<AccessToken> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    crate::cookies::bearer(auth).or_else(|| {
        let jar = crate::cookies::RequestCookies::parse(
            req.headers()
                .get_all(header::COOKIE)
                .filter_map(|v| v.to_str().ok()),
        );
        crate::cookies::join_access(|n| jar.get(n).map(str::to_string)).0
    })
}

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
    #[error("identity provider keys unavailable")]
    ProviderUnavailable,
    #[error("revocation state unavailable")]
    RevocationsUnavailable,
    #[error("resource server not configured")]
    NotConfigured,
}

impl ResponseError for Unauthorized {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Unauthorized::ProviderUnavailable | Unauthorized::RevocationsUnavailable => {
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE
            }
            Unauthorized::NotConfigured => actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => actix_web::http::StatusCode::UNAUTHORIZED,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if self.status_code() == actix_web::http::StatusCode::UNAUTHORIZED {
            // RFC 6750 §3
            r.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
        }
        r.json(serde_json::json!({"error": "unauthorized", "error_description": self.to_string()}))
    }
}

/// Extractor: a verified caller.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

impl FromRequest for Authenticated {
    type Error = Unauthorized;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let rs = req.app_data::<web::Data<ResourceServer>>().cloned();
        let token = token_from_request(req);
        Box::pin(async move {
            let rs = rs.ok_or(Unauthorized::NotConfigured)?;
            let token = token.ok_or(Unauthorized::Missing)?;
            rs.verify(&token).await.map(Authenticated)
        })
    }
}
