//! The per-client-address rate limits as a middleware: the route decides the class, core's
//! [`sso_core::rate_limit`] decides the address (trusted-proxy aware) and the verdict.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use sso_core::metrics::Metrics;
use sso_core::rate_limit::RateClass;

use crate::routes::Gw;

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = req.app_data::<Gw>().and_then(|gw| {
        let route = req
            .path()
            .strip_prefix(gw.settings.server.prefix.as_str())?;
        let class = RateClass::for_route(route)?;
        let peer = req.peer_addr()?.ip();
        let xff = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = gw.rate_limits.client_address(peer, xff);
        let wait = gw.rate_limits.check(class, client).err()?;
        Metrics::inc(&gw.metrics.rate_limited);
        Some(wait)
    });
    match verdict {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(wait) => {
            // RFC 6585 §4: 429 with Retry-After in whole seconds, rounded up
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let resp = HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, secs.max(1).to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "error": "rate_limited",
                    "error_description": format!(
                        "too many requests from your address; try again in {} s",
                        secs.max(1)
                    )
                }));
            Ok(req.into_response(resp).map_into_right_body())
        }
    }
}
