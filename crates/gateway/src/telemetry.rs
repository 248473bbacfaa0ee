//! Logging: JSON or pretty, with an access log that never records query strings or
//! headers (they carry codes, states and tokens).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use sso_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

use crate::routes::Gw;

/// Install the global subscriber on stderr; `SSO_LOG` overrides `filter`.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_env("SSO_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    init_exact(format, filter, std::io::stderr);
}

/// Install the global subscriber with exactly `filter` (no `SSO_LOG` override: the
/// secrets-in-logs test must run at trace level whatever the environment says), writing to
/// `writer` (tests capture logs this way).
pub fn init_exact<W>(format: LogFormat, filter: impl Into<EnvFilter>, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => b.json().flatten_event(true).try_init(),
        LogFormat::Pretty => b.try_init(),
    };
}

/// The one middleware around every route (one layer, not four, on the hot path):
/// - a request id (`X-Request-Id` from the proxy when it is a sane token, else a new one),
///   echoed in the response, on a span every event of the request carries;
/// - the per-address rate limits ([`crate::rate_limit`]);
/// - the headers every answer carries (`nosniff`, `no-referrer`, `X-Frame-Options: DENY`),
///   and `Cache-Control: no-store` under the prefix unless a handler set its own;
/// - the access log (debug level, target `access`), which never records query strings or
///   headers (they carry codes, states and tokens).
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use tracing::Instrument;
    let start = std::time::Instant::now();
    // built only when the access log is on (not at the default filter: the hot path)
    let line = tracing::enabled!(target: "access", tracing::Level::DEBUG)
        .then(|| (req.method().to_string(), req.path().to_string()));
    let id = req
        .headers()
        .get("x-request-id")
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 64
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_maybe_shared(Bytes::from(sso_core::util::request_id()))
                .unwrap_or(HeaderValue::from_static("-"))
        });
    let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or("-"));
    let gw = req.app_data::<Gw>().cloned();
    // the route below the prefix (the prefix never ends with `/`), for no-store and the
    // request histogram; `None` outside the prefix
    let route: Option<&'static str> = gw.as_ref().and_then(|gw| {
        let rest = req
            .path()
            .strip_prefix(gw.settings().server.prefix.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))?;
        Some(
            sso_core::metrics::HTTP_ROUTES
                .iter()
                .find(|r| **r == rest)
                .copied()
                .unwrap_or("other"),
        )
    });
    let under_prefix = route.is_some();
    let wait = gw
        .as_ref()
        .and_then(|gw| crate::rate_limit::verdict(&req, gw));
    let mut res = match wait {
        None => next
            .call(req)
            .instrument(span.clone())
            .await?
            .map_into_left_body(),
        Some(wait) => req
            .into_response(crate::rate_limit::too_many(wait))
            .map_into_right_body(),
    };
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("x-request-id"), id);
    // defaults: a handler's own value stands (the logout confirmation page sends its
    // Origin with `Referrer-Policy: same-origin`)
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff", true),
        (header::REFERRER_POLICY, "no-referrer", true),
        (header::X_FRAME_OPTIONS, "DENY", true),
        (header::CACHE_CONTROL, "no-store", under_prefix),
    ];
    for (name, value, applies) in defaults {
        if applies && !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    sso_core::metrics::observe_http(route, start.elapsed());
    // Debug level: no per-request line at the default `info` filter (the hot path);
    // `log.filter = "info,access=debug"` turns the access log on.
    if let Some((method, path)) = line {
        span.in_scope(|| {
            tracing::debug!(
                target: "access",
                method,
                path,
                status = res.status().as_u16(),
                micros = start.elapsed().as_micros() as u64,
            )
        });
    }
    Ok(res)
}
