//! actix-web glue for Rust resource servers on sibling subdomains: the [`Authenticated`]
//! extractor reads `Authorization: Bearer` or the joined `sso_at` cookie, verifies it with
//! sso-core's [`ResourceServer`] (registered as `web::Data<ResourceServer>`), and otherwise
//! answers `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3), or `503` when the OP's keys
//! or the revocation state are unavailable.
//!
//! The verification itself lives in sso-core, which has no HTTP framework dependency; this
//! crate only maps a request to it and its refusals to responses (docs/architecture.md §2).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use sso_core::oidc::AccessClaims;
pub use sso_core::resource::{ResourceServer, Unauthorized};
use sso_core::secret::AccessToken;

/// The token a request presents: `Authorization: Bearer`, else the joined `sso_at` chunks.
pub fn token_from_request(req: &HttpRequest) -> Option<AccessToken> {
    let headers = req.headers();
    sso_core::resource::presented_token(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        headers
            .get_all(header::COOKIE)
            // UTF-8 check only (SIMD), not `to_str`'s byte-by-byte visible-ASCII check of
            // the whole header (≈4 % of the forward-auth profile with a 1 KB token)
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok()),
    )
}

/// Why [`Authenticated`] refused a request, as an HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub Unauthorized);

impl ResponseError for Rejected {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            Unauthorized::ProviderUnavailable(_) | Unauthorized::RevocationsUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Unauthorized::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3
            r.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
        }
        r.json(
            serde_json::json!({"error": "unauthorized", "error_description": self.0.to_string()}),
        )
    }
}

/// Extractor: a verified caller. Take `Option<Authenticated>` for pages that also work
/// signed out. The claims are shared with the verifier's cache (cheap to clone).
#[derive(Debug, Clone)]
pub struct Authenticated(pub std::sync::Arc<AccessClaims>);

impl FromRequest for Authenticated {
    type Error = Rejected;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let rs = req.app_data::<web::Data<ResourceServer>>().cloned();
        let token = token_from_request(req);
        Box::pin(async move {
            let rs = rs.ok_or(Rejected(Unauthorized::NotConfigured))?;
            let token = token.ok_or(Rejected(Unauthorized::Missing))?;
            rs.verify(&token).await.map(Authenticated).map_err(Rejected)
        })
    }
}
