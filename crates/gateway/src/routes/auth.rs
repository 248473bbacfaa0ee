//! `GET /sso/auth` (forward-auth), `GET /sso/session`, `POST /sso/refresh`, with CORS.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use sso_core::forward_auth::{AuthOutcome, Presented};

use super::Gw;
use crate::error::HttpError;

pub fn presented(gw: &Gw, req: &HttpRequest) -> Presented {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let jar = sso_core::cookies::RequestCookies::parse(
        req.headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok()),
    );
    gw.presented(|n| jar.get(n).map(str::to_string), auth)
}

/// The URL the user was going to, from nginx (`X-Original-URL`) or Traefik
/// (`X-Forwarded-Proto/Host/Uri`).
fn original_url(req: &HttpRequest) -> Option<String> {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(u) = h("x-original-url") {
        return Some(u);
    }
    let proto = h("x-forwarded-proto")?;
    let host = h("x-forwarded-host")?;
    let uri = h("x-forwarded-uri").unwrap_or_else(|| "/".into());
    Some(format!("{proto}://{host}{uri}"))
}

/// Set-Cookie headers, plus numbered copies nginx can pick up one by one with
/// `auth_request_set` (`$upstream_http_set_cookie` only holds the first one).
pub fn add_cookies(resp: &mut HttpResponse, cookies: &[cookie::Cookie<'static>]) {
    for (i, c) in cookies.iter().enumerate() {
        let _ = resp.add_cookie(c);
        if let (Ok(name), Ok(v)) = (
            HeaderName::try_from(format!("x-auth-request-set-cookie-{i}")),
            HeaderValue::from_str(&c.to_string()),
        ) {
            resp.headers_mut().insert(name, v);
        }
    }
}

pub async fn forward_auth(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let p = presented(&gw, &req);
    let outcome = gw.authenticate(&p, false).await.map_err(HttpError::json)?;
    let mut resp = match outcome {
        AuthOutcome::Allowed(a) => {
            let Some(identity) = gw.identity_headers(&a.claims) else {
                let mut r = HttpResponse::Forbidden()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(serde_json::json!({
                        "error": "email_not_verified",
                        "error_description": "this application requires an email address verified by the identity provider"
                    }));
                add_cookies(&mut r, &a.set_cookies);
                return Ok(r);
            };
            let mut b = HttpResponse::Ok();
            b.insert_header((header::CACHE_CONTROL, "no-store"));
            for (k, v) in identity {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    b.insert_header((k, v));
                }
            }
            if gw.settings.pass_authorization {
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", a.access_token.secret()))
                {
                    b.insert_header((header::AUTHORIZATION, v));
                }
            }
            let mut r = b.finish();
            add_cookies(&mut r, &a.set_cookies);
            r
        }
        AuthOutcome::Denied(d) => {
            let login = gw.login_url_for(original_url(&req).as_deref());
            let redirect_mode = req.query_string().split('&').any(|kv| kv == "redirect=1");
            let mut b = match (&login, redirect_mode) {
                // Traefik forwardAuth returns a non-2xx answer to the browser as is.
                (Some(l), true) => {
                    let mut b = HttpResponse::Found();
                    b.insert_header((header::LOCATION, l.clone()));
                    b
                }
                _ => HttpResponseBuilder::new(actix_web::http::StatusCode::UNAUTHORIZED),
            };
            b.insert_header((header::CACHE_CONTROL, "no-store"));
            if let Some(l) = login.and_then(|l| HeaderValue::from_str(&l).ok()) {
                b.insert_header(("x-auth-request-redirect", l));
            }
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            let mut r = b.json(
                serde_json::json!({"error": "unauthenticated", "error_description": d.reason}),
            );
            add_cookies(&mut r, &d.set_cookies);
            r
        }
    };
    resp.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    Ok(resp)
}

/// CORS (configured origins only): echo the exact origin, allow credentials.
pub fn cors(gw: &Gw, req: &HttpRequest, resp: &mut HttpResponse) {
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if gw.settings.cors_allowed_origins.iter().any(|o| o == origin) {
        if let Ok(v) = HeaderValue::from_str(origin) {
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            // a script must see how long a 503 asks it to wait
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Retry-After"),
            );
        }
    }
}

/// Cross-origin POSTs with cookies only from configured origins or the gateway itself.
pub fn origin_allowed(gw: &Gw, req: &HttpRequest) -> bool {
    match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => !matches!(
            req.headers()
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok()),
            Some("cross-site")
        ),
        Some(o) => {
            gw.settings.cors_allowed_origins.iter().any(|a| a == o)
                || gw.settings.server.public_url.origin().ascii_serialization() == o
        }
    }
}

pub async fn preflight(gw: Gw, req: HttpRequest) -> HttpResponse {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let allowed = origin.is_some_and(|o| gw.settings.cors_allowed_origins.iter().any(|a| a == o));
    if !allowed {
        let mut r = HttpResponse::Forbidden().finish();
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return r;
    }
    let mut r = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Accept, X-Requested-With",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish();
    cors(&gw, &req, &mut r);
    r
}

pub async fn session(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let p = presented(&gw, &req);
    let result = gw.session_status(&p).await;
    let mut resp = match result {
        Ok((view, cookies)) => {
            let mut r = HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(view);
            add_cookies(&mut r, &cookies);
            r
        }
        Err(e) => actix_web::ResponseError::error_response(&HttpError::json(e)),
    };
    cors(&gw, &req, &mut resp);
    Ok(resp)
}

pub async fn refresh(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let mut resp = if !origin_allowed(&gw, &req) {
        actix_web::ResponseError::error_response(&HttpError::json(sso_core::Error::Forbidden(
            "cross-site refresh is not allowed from this origin",
        )))
    } else {
        let p = presented(&gw, &req);
        let force = gw.refresh_of(&p).is_some();
        match gw.authenticate(&p, force).await {
            Ok(AuthOutcome::Allowed(a)) => {
                let mut r = HttpResponse::Ok()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(sso_core::session::SessionView::from_claims(&a.claims));
                add_cookies(&mut r, &a.set_cookies);
                r
            }
            Ok(AuthOutcome::Denied(d)) => {
                let mut r = HttpResponse::Unauthorized()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(serde_json::json!({"error": "unauthenticated", "error_description": d.reason}));
                add_cookies(&mut r, &d.set_cookies);
                r
            }
            Err(e) => actix_web::ResponseError::error_response(&HttpError::json(e)),
        }
    };
    cors(&gw, &req, &mut resp);
    Ok(resp)
}
