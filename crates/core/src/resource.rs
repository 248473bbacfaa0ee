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
}

impl ResourceServer {
    /// `accepted_clients`: tokens must carry one of them in `azp` or `client_id` (empty: any).
    pub fn new(
        issuer: &str,
        allowed_algs: Vec<String>,
        accepted_clients: Vec<String>,
    ) -> Result<Self, OidcError> {
        let settings = OidcSettings {
            issuer: issuer.to_string(),
            client_id: String::new(),
            client_secret: ClientSecret::new(""),
            auth_method: crate::config::AuthMethod::ClientSecretBasic,
            scopes: vec![],
            allowed_algs,
            pass_params: vec![],
            clock_leeway_secs: 30,
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
        })
    }

    /// Feed the revocation cache from the gateways' store (`sso:revocations` plus the
    /// tombstones), so a logout anywhere is refused here at once, not only at token expiry.
    /// Call from inside the runtime (e.g. in `main` before `HttpServer::run`).
    pub fn follow_revocations(&self, store: Arc<dyn crate::store::SessionStore>) {
        let cache = self.revocations.clone();
        tokio::spawn(async move { crate::revocation::run_listener(store, cache).await });
    }

    pub async fn verify(&self, token: &AccessToken) -> Result<AccessClaims, Unauthorized> {
        match self.oidc.verify_access_token(token.secret()).await {
            Ok(c)
                if self.revocations.is_revoked(
                    c.sid.as_deref(),
                    &c.sub,
                    c.iat,
                    c.jti.as_deref(),
                ) =>
            {
                Err(Unauthorized::Revoked)
            }
            Ok(c) => Ok(c),
            Err(AccessTokenError::Expired) => Err(Unauthorized::Expired),
            Err(AccessTokenError::Invalid(_)) => Err(Unauthorized::Invalid),
            Err(AccessTokenError::Provider(_)) => Err(Unauthorized::ProviderUnavailable),
        }
    }
}

/// The token from `Authorization: Bearer` or the joined `sso_at` chunks.
pub fn token_from_request(req: &HttpRequest) -> Option<AccessToken> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    crate::cookies::bearer(auth)
        .or_else(|| crate::cookies::join_access(|n| req.cookie(n).map(|c| c.value().to_string())).0)
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
    #[error("resource server not configured")]
    NotConfigured,
}

impl ResponseError for Unauthorized {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Unauthorized::ProviderUnavailable => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
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
