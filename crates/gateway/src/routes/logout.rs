//! Logout routes: RP-initiated (`GET|POST /sso/logout`), `/sso/logged-out`,
//! `/sso/logout/clear` (cross-domain chain hop), `POST /sso/backchannel-logout`.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sso_core::logout::{BackchannelRequest, LogoutStart, LOGOUT_COOKIE};

use super::auth::{add_cookies, origin_allowed, presented};
use super::login::redirect;
use super::{wants_json, Gw};
use crate::error::HttpError;

fn query(req: &HttpRequest) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A cross-site request must not log anyone out.
fn cross_site(req: &HttpRequest) -> bool {
    matches!(
        req.headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
        Some("cross-site")
    )
}

pub async fn logout_get(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    if !gw.settings.logout_allow_get {
        return Ok(HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .finish());
    }
    if cross_site(&req) {
        return Err(HttpError::html(sso_core::Error::Forbidden(
            "a cross-site request cannot log you out",
        )));
    }
    let q = query(&req);
    logout(gw, req, q).await
}

pub async fn logout_post(
    gw: Gw,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let json = wants_json(&req);
    if !origin_allowed(&gw, &req) || cross_site(&req) {
        let e = sso_core::Error::Forbidden("a cross-site request cannot log you out");
        return Err(if json {
            HttpError::json(e)
        } else {
            HttpError::html(e)
        });
    }
    if json {
        let p = presented(&gw, &req);
        let (body, cookies) = gw.logout_json(&p).await.map_err(HttpError::json)?;
        let mut r = HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body);
        add_cookies(&mut r, &cookies);
        super::auth::cors(&gw, &req, &mut r);
        return Ok(r);
    }
    // `rd` and `peers` may come in the query or in a form body (an HTML logout form).
    let mut q = query(&req);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
            HttpError::html(sso_core::Error::BadRequest(
                "the logout form is malformed".into(),
            ))
        })?;
        q.extend(form);
    }
    logout(gw, req, q).await
}

/// `params`: the query, plus (POST) the form body's fields.
async fn logout(
    gw: Gw,
    req: HttpRequest,
    params: HashMap<String, String>,
) -> Result<HttpResponse, HttpError> {
    let q = params;
    let p = presented(&gw, &req);
    let through_peers = q.get("peers").map(String::as_str) != Some("0");
    let r = gw
        .start_logout(&p, q.get("rd").map(String::as_str), through_peers)
        .await
        .map_err(HttpError::html)?;
    Ok(match r {
        LogoutStart::Redirect(r) => redirect(r),
        LogoutStart::OpUnreachable { cookies } => {
            let mut page = crate::error::page(
                actix_web::http::StatusCode::OK,
                "Signed out",
                "You are signed out of this site. The identity provider could not be reached, \
                 so your sign-in there may still be active: sign out there as well, or close \
                 your browser.",
            );
            add_cookies(&mut page, &cookies);
            page
        }
    })
}

pub async fn logged_out(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let q = query(&req);
    let cookie = req.cookie(LOGOUT_COOKIE);
    let r = gw
        .finish_logout(
            q.get("state").map(String::as_str),
            cookie.as_ref().map(|c| c.value()),
        )
        .map_err(HttpError::html)?;
    Ok(redirect(r))
}

pub async fn chain_hop(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let q = query(&req);
    let t = q.get("t").cloned().unwrap_or_default();
    let i = q
        .get("i")
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let p = presented(&gw, &req);
    let r = gw.chain_hop(&t, i, &p).await.map_err(HttpError::html)?;
    Ok(redirect(r))
}

#[derive(serde::Deserialize)]
pub struct BclForm {
    logout_token: Option<String>,
    forwarded: Option<String>,
    received_at: Option<i64>,
    federation_mac: Option<String>,
}

pub async fn backchannel(gw: Gw, form: web::Form<BclForm>) -> Result<HttpResponse, HttpError> {
    let f = form.into_inner();
    let req = BackchannelRequest {
        logout_token: f.logout_token,
        forwarded: f.forwarded.as_deref() == Some("1"),
        received_at: f.received_at,
        federation_mac: f.federation_mac,
    };
    gw.backchannel_logout(&req).await.map_err(HttpError::json)?;
    // BCL 1.0 §2.8: 200, no caching.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
