//! Admin API behind `Authorization: Bearer <admin.token>` (404 when no token is configured),
//! and the peer-to-peer federation revocation endpoint.

use actix_web::{web, HttpResponse};

use super::Gw;
use crate::error::HttpError;
use crate::extract::{Admin, ApiQuery, Query};

#[derive(serde::Deserialize)]
pub struct SubQuery {
    sub: String,
}

pub async fn list(
    gw: Gw,
    _: Admin,
    Query(q): ApiQuery<SubQuery>,
) -> Result<HttpResponse, HttpError> {
    let sessions = gw.list_sessions(&q.sub).await.map_err(HttpError::json)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"sub": q.sub, "sessions": sessions})))
}

pub async fn revoke(gw: Gw, _: Admin, f: web::Form<SubQuery>) -> Result<HttpResponse, HttpError> {
    let ended = gw.revoke_subject(&f.sub).await.map_err(HttpError::json)?;
    tracing::info!(
        sessions = ended.sessions,
        "admin revoked a subject's sessions"
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({"sub": f.sub, "ended": ended.sessions})))
}

pub async fn federation_revoke(
    gw: Gw,
    f: web::Form<sso_core::federation::RevokeForm>,
) -> Result<HttpResponse, HttpError> {
    gw.federation_revoke(&f).await.map_err(HttpError::json)?;
    Ok(HttpResponse::Ok().finish())
}
