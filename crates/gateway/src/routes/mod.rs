//! HTTP routes. Handlers extract, delegate to `sso_core::Gateway`, and map errors.

pub mod admin;
pub mod auth;
pub mod login;
pub mod logout;
pub mod ops;

use actix_web::{web, HttpRequest};
use sso_core::Gateway;

pub type Gw = web::Data<std::sync::Arc<Gateway>>;

/// Register every route under the configured prefix.
pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    cfg.service(
        web::scope(prefix)
            .route("/login", web::get().to(login::login))
            .route("/callback", web::get().to(login::callback))
            .route("/auth", web::get().to(auth::forward_auth))
            .route("/session", web::get().to(auth::session))
            .route(
                "/session",
                web::method(actix_web::http::Method::OPTIONS).to(auth::preflight),
            )
            .route("/logout", web::get().to(logout::logout_get))
            .route("/logout", web::post().to(logout::logout_post))
            .route(
                "/logout",
                web::method(actix_web::http::Method::OPTIONS).to(auth::preflight),
            )
            .route("/logged-out", web::get().to(logout::logged_out))
            .route("/logout/clear", web::get().to(logout::chain_hop))
            .route("/backchannel-logout", web::post().to(logout::backchannel))
            .route("/admin/sessions", web::get().to(admin::list))
            .route("/admin/sessions/revoke", web::post().to(admin::revoke))
            .route(
                "/federation/revoke",
                web::post().to(admin::federation_revoke),
            )
            .route("/refresh", web::post().to(auth::refresh))
            .route(
                "/refresh",
                web::method(actix_web::http::Method::OPTIONS).to(auth::preflight),
            ),
    )
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics));
}

/// True when the client asked for JSON.
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}
