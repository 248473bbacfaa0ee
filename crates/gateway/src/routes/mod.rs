//! HTTP routes. Handlers take extractors ([`crate::extract`]), delegate to
//! `sso_core::Gateway`, and map the outcome to a response ([`crate::error`] for errors).

pub mod admin;
pub mod auth;
pub mod login;
pub mod logout;
pub mod ops;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::web;
use sso_core::Gateway;

pub type Gw = web::Data<Arc<Gateway>>;

/// A resource answering `405` with `Allow` for methods it does not serve.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        actix_web::HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .json(serde_json::json!({"error": "method_not_allowed", "error_description": format!("use {allow}")}))
    }))
}

/// Register every route under the configured prefix. Every answer under the prefix is
/// `Cache-Control: no-store` unless a handler says otherwise ([`crate::telemetry::edge`]).
pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    use actix_web::http::Method;
    let options = || web::method(Method::OPTIONS);
    cfg.service(
        web::scope(prefix)
            .service(resource("/login", "GET").route(web::get().to(login::login)))
            .service(resource("/callback", "GET").route(web::get().to(login::callback)))
            .service(resource("/auth", "GET").route(web::get().to(auth::forward_auth)))
            .service(
                resource("/session", "GET, OPTIONS")
                    .wrap(from_fn(crate::cors::cors))
                    .route(web::get().to(auth::session))
                    .route(options().to(auth::preflight)),
            )
            .service(
                resource("/refresh", "POST, OPTIONS")
                    .wrap(from_fn(crate::cors::cors))
                    .route(web::post().to(auth::refresh))
                    .route(options().to(auth::preflight)),
            )
            .service(
                resource("/logout", "GET, POST, OPTIONS")
                    .wrap(from_fn(crate::cors::cors))
                    .route(web::get().to(logout::logout_get))
                    .route(web::post().to(logout::logout_post))
                    .route(options().to(auth::preflight)),
            )
            .service(resource("/logged-out", "GET").route(web::get().to(logout::logged_out)))
            .service(resource("/signed-out", "GET").route(web::get().to(logout::signed_out)))
            .service(resource("/logout/clear", "GET").route(web::get().to(logout::chain_hop)))
            .service(
                resource("/backchannel-logout", "POST").route(web::post().to(logout::backchannel)),
            )
            .service(resource("/admin/sessions", "GET").route(web::get().to(admin::list)))
            .service(
                resource("/admin/sessions/revoke", "POST").route(web::post().to(admin::revoke)),
            )
            .service(
                resource("/federation/revoke", "POST")
                    .route(web::post().to(admin::federation_revoke)),
            ),
    )
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics));
}
