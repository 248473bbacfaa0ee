//! CORS for `/session`, `/refresh` and `/logout` (configured origins only), as one resource
//! middleware; the preflight answer is [`crate::routes::auth::preflight`].
//!
//! Hand-written rather than `actix-cors` (0.7), which cannot give the contract the tests
//! (tests/session/cors.rs, tests/browser/spa.rs) pin: it sends
//! `Access-Control-Allow-Credentials: true` to every origin, listed or not; it answers a
//! preflight with `200` where this API answers `204`; and it refuses an unlisted origin's
//! preflight with `400` where this API answers `403`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

use crate::routes::Gw;

/// Echo a configured origin (exact match) with credentials allowed and `Retry-After`
/// readable (a script must see how long a 503 asks it to wait); `Vary: Origin` always.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| {
            let gw = req.app_data::<Gw>();
            o.to_str()
                .is_ok_and(|o| gw.is_some_and(|gw| gw.cors_origin_allowed(o)))
        })
        .cloned();
    let mut resp = next.call(req).await?;
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    Ok(resp)
}
