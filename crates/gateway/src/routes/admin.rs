//! Admin API behind `Authorization: Bearer <admin.token>` (404 when no token is configured),
//! and the peer-to-peer federation revocation endpoint.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::Gw;
use crate::error::HttpError;

/// `None` when authorized, else the response to send.
fn refused(gw: &Gw, req: &HttpRequest) -> Option<HttpResponse> {
    if gw.settings.admin_token.is_none() {
        return Some(HttpResponse::NotFound().finish());
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if gw.admin_token_ok(presented) {
        None
    } else {
        Some(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(serde_json::json!({"error": "unauthorized"})),
        )
    }
}

#[derive(serde::Deserialize)]
pub struct SubQuery {
    sub: String,
}

pub async fn list(
    gw: Gw,
    req: HttpRequest,
    q: web::Query<SubQuery>,
) -> Result<HttpResponse, HttpError> {
    if let Some(r) = refused(&gw, &req) {
        return Ok(r);
    }
    let sessions = gw.list_sessions(&q.sub).await.map_err(HttpError::json)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"sub": q.sub, "sessions": sessions})))
}

pub async fn revoke(
    gw: Gw,
    req: HttpRequest,
    f: web::Form<SubQuery>,
) -> Result<HttpResponse, HttpError> {
    if let Some(r) = refused(&gw, &req) {
        return Ok(r);
    }
    let ended = gw.revoke_subject(&f.sub).await.map_err(HttpError::json)?;
    tracing::info!(
        sessions = ended.sessions,
        "admin revoked a subject's sessions"
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"sub": f.sub, "ended": ended.sessions})))
}

pub async fn federation_revoke(
    gw: Gw,
    f: web::Form<sso_core::federation::RevokeForm>,
) -> Result<HttpResponse, HttpError> {
    gw.federation_revoke(&f).await.map_err(HttpError::json)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
