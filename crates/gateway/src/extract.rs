//! What a request presents, as extractors: the credentials (session cookies, bearer token),
//! the gateway's sealed state cookies, the admin bearer token, where the request comes from,
//! what it asks for, a form body, and one strict query parser. Handlers take these and never
//! read a header, a cookie or the query string themselves.

use std::collections::{HashMap, HashSet};
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use sso_core::api::Presented;
use sso_core::cookies::bearer_token;
use sso_core::provenance::Provenance;

use crate::error::HttpError;
use crate::routes::Gw;

fn gateway(req: &HttpRequest) -> Result<&Gw, actix_web::Error> {
    req.app_data::<Gw>()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no gateway state"))
}

fn header_str(req: &HttpRequest, name: impl header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The gateway's `sso_*` cookies, parsed once without touching the others (see
/// [`RequestCookies`](sso_core::cookies::RequestCookies) for why not `HttpRequest::cookie`).
fn gateway_cookies(req: &HttpRequest) -> sso_core::cookies::RequestCookies<'_> {
    sso_core::cookies::RequestCookies::parse(
        req.headers()
            .get_all(header::COOKIE)
            // UTF-8 check only (SIMD), not `to_str`'s byte-by-byte visible-ASCII check of
            // the whole header (≈4 % of the forward-auth profile with a 1 KB token)
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok()),
    )
}

/// `FromRequest` for an extractor read from the request alone (no body, nothing awaited):
/// `$read` turns `$req` into `Result<Self, actix_web::Error>`.
macro_rules! from_head {
    ($t:ty, |$req:ident| $read:expr) => {
        impl FromRequest for $t {
            type Error = actix_web::Error;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request($req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready($read)
            }
        }
    };
}

/// The gateway cookies and a bearer token (`Authorization: Bearer`, any case).
pub struct Credentials(pub Presented);

from_head!(Credentials, |req| gateway(req).map(|gw| {
    let jar = gateway_cookies(req);
    Credentials(gw.presented(
        |n| jar.get(n).map(str::to_string),
        header_str(req, header::AUTHORIZATION),
    ))
}));

/// `Origin` and `Sec-Fetch-Site`, for the cross-site checks in core.
pub struct Origin(pub Provenance);

from_head!(Origin, |req| Ok(Origin(Provenance {
    origin: header_str(req, header::ORIGIN).map(str::to_string),
    fetch_site: header_str(req, "sec-fetch-site").map(str::to_string),
})));

/// A sealed state cookie of the gateway's own flows, as presented: `sso_login`
/// ([`LOGIN`](sso_core::cookies::LOGIN)) or `sso_logout`
/// ([`LOGOUT_COOKIE`](sso_core::logout::LOGOUT_COOKIE)).
pub struct StateCookie<const LOGOUT: bool>(pub Option<String>);

/// `sso_login`: the pending logins of this browser.
pub type LoginCookie = StateCookie<false>;
/// `sso_logout`: the pending RP-initiated logout of this browser.
pub type LogoutCookie = StateCookie<true>;

from_head!(LoginCookie, |req| Ok(state_cookie(req)));
from_head!(LogoutCookie, |req| Ok(state_cookie(req)));

/// The state cookie the type names (`LOGOUT`), as presented.
fn state_cookie<const LOGOUT: bool>(req: &HttpRequest) -> StateCookie<LOGOUT> {
    let name = if LOGOUT {
        sso_core::logout::LOGOUT_COOKIE
    } else {
        sso_core::cookies::LOGIN
    };
    StateCookie(gateway_cookies(req).get(name).map(str::to_string))
}

/// The URL the user was going to, from nginx (`X-Original-URL`) or Traefik
/// (`X-Forwarded-Proto/Host/Uri`).
pub struct OriginalUrl(pub Option<String>);

from_head!(OriginalUrl, |req| {
    let h = |n: &str| header_str(req, n).map(str::to_string);
    let url = h("x-original-url").or_else(|| {
        let proto = h("x-forwarded-proto")?;
        let host = h("x-forwarded-host")?;
        let uri = h("x-forwarded-uri").unwrap_or_else(|| "/".into());
        Some(format!("{proto}://{host}{uri}"))
    });
    Ok(OriginalUrl(url))
});

/// The client asked for JSON (`Accept` has `application/json` and no `text/html`).
pub struct WantsJson(pub bool);

from_head!(WantsJson, |req| Ok(WantsJson(wants_json(req))));

fn wants_json(req: &HttpRequest) -> bool {
    header_str(req, header::ACCEPT)
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

/// The fields of an `application/x-www-form-urlencoded` body (a later field wins), empty for
/// any other body, which is not read; a malformed form is a 400 (JSON when the client asked
/// for JSON, else a page).
pub struct FormParams(pub Params);

impl FromRequest for FormParams {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = header_str(req, header::CONTENT_TYPE)
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Box::pin(async { Ok(FormParams(Params::new())) });
        }
        let body = actix_web::web::Bytes::from_request(req, payload);
        let gw = req.app_data::<Gw>().cloned();
        let json = wants_json(req);
        Box::pin(async move {
            let body = body.await?;
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).map_err(|_| {
                    let e = sso_core::Error::BadRequest(sso_core::error::BadInput::MalformedForm);
                    HttpError::plain(gw.as_ref(), json, e)
                })?;
            Ok(FormParams(fields.into_iter().collect()))
        })
    }
}

/// A caller holding `admin.token` as a bearer token. The admin API does not exist (`404`)
/// when no token is configured; a missing or wrong token is `401`.
pub struct Admin;

from_head!(Admin, |req| gateway(req).and_then(|gw| {
    let refused = |why, r| Err(actix_web::error::InternalError::from_response(why, r).into());
    if gw.settings().admin_token.is_none() {
        refused(
            "the admin API is not configured",
            HttpResponse::NotFound().finish(),
        )
    } else if gw.admin_token_ok(bearer_token(header_str(req, header::AUTHORIZATION))) {
        Ok(Admin)
    } else {
        let r = HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(serde_json::json!({"error": "unauthorized"}));
        refused("unauthorized", r)
    }
}));

/// The query parameters by name.
pub type Params = HashMap<String, String>;

/// Parse a query string, refusing a repeated parameter: it is ambiguous (which one counts?)
/// and a classic parser-differential trick.
pub fn parse_query<T: DeserializeOwned>(qs: &str) -> Result<T, sso_core::Error> {
    use sso_core::error::BadInput;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(qs)
        .map_err(|_| sso_core::Error::BadRequest(BadInput::MalformedQuery))?;
    let mut seen = HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.as_str()) {
            return Err(sso_core::Error::BadRequest(BadInput::RepeatedParameter(
                k.clone(),
            )));
        }
    }
    serde_urlencoded::from_str(qs)
        .map_err(|e| sso_core::Error::BadRequest(BadInput::InvalidQuery(e.to_string())))
}

/// The strict query of a route: a refusal is JSON for an API route (`API`), else an error
/// page.
pub struct Query<T = Params, const API: bool = false>(pub T);

/// The strict query of an API route: a refusal is JSON.
pub type ApiQuery<T = Params> = Query<T, true>;

impl<T: DeserializeOwned, const API: bool> FromRequest for Query<T, API> {
    type Error = HttpError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse_query(req.query_string())
                .map(Query)
                .map_err(|e| HttpError::plain(req.app_data::<Gw>(), API, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused() {
        let e = parse_query::<Params>("rd=a&x=1&rd=b").err();
        assert!(
            matches!(&e, Some(sso_core::Error::BadRequest(sso_core::error::BadInput::RepeatedParameter(m))) if m == "rd"),
            "{e:?}"
        );
        let q = parse_query::<Params>("rd=a&x=1").ok();
        assert_eq!(q.and_then(|q| q.get("rd").cloned()).as_deref(), Some("a"));
    }
}
