use actix_web::http::header;
use actix_web::HttpResponse;

use super::Gw;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: core's [`sso_core::readiness::Readiness`], `503` when not ready.
pub async fn readyz(gw: Gw) -> HttpResponse {
    let r = gw.readiness().await;
    if r.ready {
        HttpResponse::Ok().json(r)
    } else {
        HttpResponse::ServiceUnavailable().json(r)
    }
}

/// `GET /metrics`: core's Prometheus text exposition.
pub async fn metrics(gw: Gw) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(gw.metrics_text().await)
}
