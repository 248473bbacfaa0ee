//! The per-client-address rate limits: the route decides the class, core's
//! [`sso_core::rate_limit`] decides the address (trusted-proxy aware) and the verdict. Run by
//! the edge middleware ([`crate::telemetry::edge`]).

use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::HttpResponse;
use sso_core::rate_limit::RateClass;

use crate::routes::Gw;

/// How long this request's client must wait, when its class's budget is spent.
pub fn verdict(req: &ServiceRequest, gw: &Gw) -> Option<Duration> {
    let route = req
        .path()
        .strip_prefix(gw.settings().server.prefix.as_str())?;
    let class = RateClass::for_route(route)?;
    let peer = req.peer_addr()?.ip();
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = gw.rate_limits().client_address(peer, xff);
    let wait = gw.rate_limits().check(class, client).err()?;
    gw.metrics().rate_limited.inc();
    Some(wait)
}

/// RFC 6585 §4: 429 with `Retry-After` in whole seconds, rounded up.
pub fn too_many(wait: Duration) -> HttpResponse {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, secs.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "error": "rate_limited",
            "error_description": format!(
                "too many requests from your address; try again in {secs} s"
            )
        }))
}
