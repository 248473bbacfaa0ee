//! `GET /sso/auth` (forward-auth), `GET /sso/session`, `POST /sso/refresh`, and the CORS
//! preflight of the three CORS resources.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use sso_core::api::{AuthOutcome, Denied};

use super::Gw;
use crate::error::HttpError;
use crate::extract::{ApiQuery, Credentials, Origin, OriginalUrl};

/// Set-Cookie headers, plus numbered copies nginx can pick up one by one with
/// `auth_request_set` (`$upstream_http_set_cookie` only holds the first one).
pub fn add_cookies(mut resp: HttpResponse, cookies: &[cookie::Cookie<'static>]) -> HttpResponse {
    crate::error::set_cookies(&mut resp, cookies);
    for (i, c) in cookies.iter().enumerate() {
        if let (Ok(name), Ok(v)) = (
            HeaderName::try_from(format!("x-auth-request-set-cookie-{i}")),
            HeaderValue::from_str(&c.to_string()),
        ) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

/// A refused caller: `unauthenticated` with core's reason, and the cookies that clear what
/// it still holds.
fn denied(mut b: HttpResponseBuilder, d: &Denied) -> HttpResponse {
    let r = b.json(serde_json::json!({"error": "unauthenticated", "error_description": d.reason}));
    add_cookies(r, &d.set_cookies)
}

/// Core's forward-auth headers as actix header values, built once per verified token
/// (core keeps them with the token's cached claims).
fn upstream_header_values(
    h: Vec<(&'static str, actix_web::web::Bytes)>,
) -> Vec<(HeaderName, HeaderValue)> {
    h.into_iter()
        .filter_map(|(k, v)| {
            let name = HeaderName::from_static(k);
            // shares the buffer (the token is not copied); validated here, once
            Some((name, HeaderValue::from_maybe_shared(v).ok()?))
        })
        .collect()
}

#[derive(serde::Deserialize)]
pub struct AuthQuery {
    /// `1`: answer a denied request with `302` to the login (Traefik `forwardAuth` returns
    /// a non-2xx answer to the browser as is).
    redirect: Option<String>,
}

pub async fn forward_auth(
    gw: Gw,
    q: ApiQuery<AuthQuery>,
    Credentials(p): Credentials,
    OriginalUrl(original): OriginalUrl,
) -> Result<HttpResponse, HttpError> {
    let outcome = gw.authenticate(&p, false).await.map_err(HttpError::json)?;
    let mut resp = match outcome {
        AuthOutcome::Allowed(a) => {
            let Some(headers) = gw.upstream_headers(&a, upstream_header_values) else {
                let r = HttpResponse::Forbidden()
                    .json(serde_json::json!({
                        "error": "email_not_verified",
                        "error_description": "this application requires an email address verified by the identity provider"
                    }));
                return Ok(add_cookies(r, &a.set_cookies));
            };
            let mut r = HttpResponse::Ok().finish();
            let h = r.headers_mut();
            for (k, v) in headers.iter() {
                h.insert(k.clone(), v.clone()); // shared buffers, no copy
            }
            add_cookies(r, &a.set_cookies)
        }
        AuthOutcome::Denied(d) => {
            let login = gw.login_url_for(original.as_deref());
            let redirect_mode = q.0.redirect.as_deref() == Some("1");
            let mut b = HttpResponse::Unauthorized();
            if let (Some(l), true) = (&login, redirect_mode) {
                b.status(actix_web::http::StatusCode::FOUND)
                    .insert_header((header::LOCATION, l.clone()));
            }
            if let Some(l) = login.and_then(|l| HeaderValue::from_str(&l).ok()) {
                b.insert_header(("x-auth-request-redirect", l));
            }
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            denied(b, &d)
        }
    };
    resp.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    Ok(resp)
}

/// The preflight of `/session`, `/refresh` and `/logout`: `204` for a configured origin
/// ([`crate::cors`] adds the origin and credentials headers), `403` for any other.
pub async fn preflight(gw: Gw, Origin(o): Origin) -> HttpResponse {
    if !o
        .origin
        .as_deref()
        .is_some_and(|o| gw.cors_origin_allowed(o))
    {
        return HttpResponse::Forbidden().finish();
    }
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Accept, X-Requested-With",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}

pub async fn session(gw: Gw, Credentials(p): Credentials) -> Result<HttpResponse, HttpError> {
    let (view, cookies) = gw.session_status(&p).await.map_err(HttpError::json)?;
    Ok(add_cookies(HttpResponse::Ok().json(view), &cookies))
}

pub async fn refresh(
    gw: Gw,
    Origin(o): Origin,
    Credentials(p): Credentials,
) -> Result<HttpResponse, HttpError> {
    if !gw.cookie_post_allowed(&o) {
        return Err(HttpError::json(sso_core::Error::Forbidden(
            "cross-site refresh is not allowed from this origin",
        )));
    }
    let force = gw.refresh_of(&p).is_some();
    Ok(
        match gw.authenticate(&p, force).await.map_err(HttpError::json)? {
            AuthOutcome::Allowed(a) => add_cookies(
                HttpResponse::Ok().json(sso_core::api::SessionView::from_claims(&a.claims)),
                &a.set_cookies,
            ),
            AuthOutcome::Denied(d) => denied(HttpResponse::Unauthorized(), &d),
        },
    )
}
