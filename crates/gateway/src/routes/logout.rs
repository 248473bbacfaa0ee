//! Logout routes: RP-initiated (`GET|POST /sso/logout`), `/sso/logged-out`,
//! `/sso/logout/clear` (cross-domain chain hop), `POST /sso/backchannel-logout`.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use sso_core::logout::{BackchannelRequest, LogoutStart, LOGOUT_COOKIE};
use sso_core::ui::{Field, PageContext, PageKind};

use super::auth::{add_cookies, origin_allowed, presented};
use super::login::redirect;
use super::{wants_json, Gw};
use crate::error::{html_response, HttpError};

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

/// "Sign out?" with a button that posts the logout from the gateway's own page (so it is
/// same-origin) and a way back: what a person sees when a link cannot sign them out by
/// itself (another site's link, or `logout.allow_get = false`).
fn confirm_page(
    gw: &Gw,
    status: StatusCode,
    q: &HashMap<String, String>,
    why: &str,
) -> HttpResponse {
    let links = gw.back_link(q.get("rd").map(String::as_str));
    let mut fields = Vec::new();
    if let Some(rd) = &links.back {
        fields.push(Field {
            name: "rd".into(),
            value: rd.clone(),
        });
    }
    if q.get("peers").map(String::as_str) == Some("0") {
        fields.push(Field {
            name: "peers".into(),
            value: "0".into(),
        });
    }
    let ctx = PageContext {
        status: status.as_u16(),
        title: "Sign out?".into(),
        message: why.into(),
        back: links.back,
        form_action: Some(gw.settings.route("/logout")),
        fields,
        ..Default::default()
    };
    let mut r = html_response(
        status,
        gw.settings.pages.render(PageKind::LogoutConfirm, &ctx),
    );
    // with the gateway-wide `no-referrer`, Chromium posts the form with `Origin: null`,
    // which the logout refuses as cross-site; `same-origin` sends the real origin (to the
    // gateway itself only)
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    r
}

pub async fn logout_get(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let q = query(&req);
    if !gw.settings.logout_allow_get {
        let mut r = confirm_page(
            &gw,
            StatusCode::METHOD_NOT_ALLOWED,
            &q,
            "Signing out needs your confirmation. Nothing has changed yet.",
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return Ok(r);
    }
    if cross_site(&req) {
        return Ok(confirm_page(
            &gw,
            StatusCode::FORBIDDEN,
            &q,
            "A link on another site asked to sign you out. You are still signed in. Sign out now?",
        ));
    }
    logout(gw, req, q).await
}

/// `GET /sso/signed-out`: where a logout without `rd` ends; with an allowed `rd`, it offers
/// to sign in again and the way back there.
pub async fn signed_out(gw: Gw, req: HttpRequest) -> HttpResponse {
    let q = query(&req);
    let links = gw.login_links(q.get("rd").map(String::as_str));
    let ctx = PageContext {
        status: 200,
        title: "You are signed out".into(),
        message: "You have been signed out of the applications that use this sign-in.".into(),
        try_again: links.try_again,
        back: links.back,
        ..Default::default()
    };
    html_response(
        StatusCode::OK,
        gw.settings.pages.render(PageKind::SignedOut, &ctx),
    )
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
            HttpError::page(&gw, e, Default::default())
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
            HttpError::page(
                &gw,
                sso_core::Error::BadRequest("the logout form is malformed".into()),
                Default::default(),
            )
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
    let rd = q.get("rd").map(String::as_str);
    let r = gw
        .start_logout(&p, rd, through_peers)
        .await
        .map_err(|e| HttpError::page(&gw, e, gw.back_link(rd)))?;
    Ok(match r {
        LogoutStart::Redirect(r) => redirect(r),
        // The local session ended and the cookies clear; the OP part could not be done.
        LogoutStart::OpUnreachable { cookies } => {
            let links = gw.login_links(rd);
            let ctx = PageContext {
                status: 200,
                title: "You are signed out".into(),
                message: "You are signed out of this site.".into(),
                try_again: links.try_again,
                back: links.back,
                op_reached: Some(false),
                ..Default::default()
            };
            let mut page = html_response(
                StatusCode::OK,
                gw.settings.pages.render(PageKind::SignedOut, &ctx),
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
        .map_err(|e| HttpError::page(&gw, e, signed_out_link(&gw)))?;
    Ok(redirect(r))
}

/// The next step from a failed logout hop or return: this gateway's signed-out page (which
/// offers to sign in again); the original `rd` is not known there.
fn signed_out_link(gw: &Gw) -> sso_core::ui::PageLinks {
    sso_core::ui::PageLinks {
        try_again: None,
        back: Some(gw.settings.public_route("/signed-out")),
    }
}

pub async fn chain_hop(gw: Gw, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let q = query(&req);
    let t = q.get("t").cloned().unwrap_or_default();
    let i = q
        .get("i")
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let p = presented(&gw, &req);
    let r = gw
        .chain_hop(&t, i, &p)
        .await
        .map_err(|e| HttpError::page(&gw, e, signed_out_link(&gw)))?;
    Ok(redirect(r))
}

pub async fn backchannel(
    gw: Gw,
    form: web::Form<sso_core::federation::BackchannelForm>,
) -> Result<HttpResponse, HttpError> {
    let f = form.into_inner();
    let req = BackchannelRequest {
        logout_token: f.logout_token,
        forwarded: f.forwarded.as_deref() == Some("1"),
        received_at: f.received_at,
        federation_kid: f.federation_kid,
        federation_mac: f.federation_mac,
    };
    gw.backchannel_logout(&req).await.map_err(HttpError::json)?;
    // BCL 1.0 §2.8: 200, no caching.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
