//! Logging: JSON or pretty, with an access log that never records query strings or
//! headers (they carry codes, states and tokens).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use sso_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat, filter: &str) {
    init_with_writer(format, filter, std::io::stderr);
}

/// Install the global subscriber writing to `writer` (tests capture logs this way).
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("SSO_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    init_with_filter(format, filter, writer);
}

/// Install the global subscriber with exactly `filter` (no `SSO_LOG` override: the
/// secrets-in-logs test must run at trace level whatever the environment says).
pub fn init_exact<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    init_with_filter(format, EnvFilter::new(filter), writer);
}

fn init_with_filter<W>(format: LogFormat, filter: EnvFilter, writer: W)
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

/// Access log (debug level, target `access`) with a request id (`X-Request-Id` from the proxy when it is a sane token,
/// else a new one), echoed in the response; every event of the request carries it. Never
/// logs query strings or headers (they carry codes, states and tokens).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    let start = std::time::Instant::now();
    // built only when the access log is on (not at the default filter: the hot path)
    let line = tracing::enabled!(target: "access", tracing::Level::DEBUG)
        .then(|| (req.method().to_string(), req.path().to_string()));
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(sso_core::util::request_id);
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
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
