//! sso-gateway: the HTTP layer over `sso-core`.

pub mod cors;
pub mod error;
pub mod extract;
pub mod rate_limit;
pub mod routes;
pub mod telemetry;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use sso_core::Gateway;

/// The app factory shared by `HttpServer` and tests.
pub fn app(
    gw: Arc<Gateway>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let prefix = gw.settings().server.prefix.clone();
    App::new()
        .app_data(web::Data::new(gw))
        .app_data(
            web::FormConfig::default()
                .limit(64 * 1024)
                .error_handler(|e, _| {
                    crate::error::HttpError::json(sso_core::Error::BadRequest(
                        sso_core::error::BadInput::InvalidForm(e.to_string()),
                    ))
                    .into()
                }),
        )
        .wrap(from_fn(telemetry::edge))
        .configure(|cfg| routes::configure(cfg, &prefix))
}

/// Serve on an already bound listener until the server is stopped. The caller starts (and
/// owns) the gateway's background tasks: [`Gateway::spawn_background`].
pub fn server(
    gw: Arc<Gateway>,
    listener: std::net::TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || app(gw.clone()))
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(2)
        .listen(listener)?
        .run())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
