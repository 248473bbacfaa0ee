//! Logout routes: RP-initiated (`GET|POST /sso/logout`), `/sso/logged-out`,
//! `/sso/logout/clear` (cross-domain chain hop), `POST /sso/backchannel-logout`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use sso_core::api::Presented;
use sso_core::logout::LogoutStart;
use sso_core::ui::{Field, PageContext, PageKind};

use super::auth::add_cookies;
use super::login::redirect;
use super::Gw;
use crate::error::{html_response, HttpError};
use crate::extract::{
    Credentials, FormParams, LogoutCookie, Origin, Params, Query, StateCookie, WantsJson,
};

/// "Sign out?" with a button that posts the logout from the gateway's own page (so it is
/// same-origin) and a way back: what a person sees when a link cannot sign them out by
/// itself (another site's link, or `logout.allow_get = false`).
fn confirm_page(gw: &Gw, status: StatusCode, q: &Params, why: &str) -> HttpResponse {
    let links = gw.back_link(q.get("rd").map(String::as_str));
    // the hidden fields: `rd` when allowed, `peers=0` when asked
    let peers = (q.get("peers").map(String::as_str) == Some("0")).then(|| "0".to_string());
    let fields = [("rd", links.back.clone()), ("peers", peers)]
        .into_iter()
        .filter_map(|(name, value)| {
            Some(Field {
                name: name.into(),
                value: value?,
            })
        })
        .collect();
    let ctx = PageContext {
        status: status.as_u16(),
        title: "Sign out?".into(),
        message: why.into(),
        back: links.back,
        form_action: Some(gw.settings().route("/logout")),
        fields,
        ..Default::default()
    };
    let mut r = html_response(
        status,
        gw.settings().pages.render(PageKind::LogoutConfirm, &ctx),
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

pub async fn logout_get(
    gw: Gw,
    Query(q): Query,
    Origin(o): Origin,
    Credentials(p): Credentials,
) -> Result<HttpResponse, HttpError> {
    if !gw.settings().logout_allow_get {
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
    if o.cross_site() {
        return Ok(confirm_page(
            &gw,
            StatusCode::FORBIDDEN,
            &q,
            "A link on another site asked to sign you out. You are still signed in. Sign out now?",
        ));
    }
    logout(gw, p, q).await
}

/// `GET /sso/signed-out`: where a logout without `rd` ends; with an allowed `rd`, it offers
/// to sign in again and the way back there.
pub async fn signed_out(gw: Gw, Query(q): Query) -> HttpResponse {
    let message = "You have been signed out of the applications that use this sign-in.";
    signed_out_page(&gw, q.get("rd").map(String::as_str), message, None)
}

/// The signed-out page (`op_reached`: whether the OP's session ended too, when known), with
/// the login and the way back to `rd` when it is allowed.
fn signed_out_page(
    gw: &Gw,
    rd: Option<&str>,
    message: &str,
    op_reached: Option<bool>,
) -> HttpResponse {
    let links = gw.login_links(rd);
    let ctx = PageContext {
        status: 200,
        title: "You are signed out".into(),
        message: message.into(),
        try_again: links.try_again,
        back: links.back,
        op_reached,
        ..Default::default()
    };
    html_response(
        StatusCode::OK,
        gw.settings().pages.render(PageKind::SignedOut, &ctx),
    )
}

pub async fn logout_post(
    gw: Gw,
    Query(mut q): Query,
    Origin(o): Origin,
    Credentials(p): Credentials,
    WantsJson(json): WantsJson,
    FormParams(form): FormParams,
) -> Result<HttpResponse, HttpError> {
    if !gw.logout_post_allowed(&o) {
        let e = sso_core::Error::Forbidden("a cross-site request cannot log you out");
        return Err(HttpError::plain(Some(&gw), json, e));
    }
    if json {
        let (body, cookies) = gw.logout_json(&p).await.map_err(HttpError::json)?;
        return Ok(add_cookies(HttpResponse::Ok().json(body), &cookies));
    }
    // `rd` and `peers` may come in the query or in a form body (an HTML logout form).
    q.extend(form);
    logout(gw, p, q).await
}

/// `params`: the query, plus (POST) the form body's fields.
async fn logout(gw: Gw, p: Presented, q: Params) -> Result<HttpResponse, HttpError> {
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
            let message = "You are signed out of this site.";
            add_cookies(signed_out_page(&gw, rd, message, Some(false)), &cookies)
        }
    })
}

pub async fn logged_out(
    gw: Gw,
    Query(q): Query,
    StateCookie(cookie): LogoutCookie,
) -> Result<HttpResponse, HttpError> {
    let r = gw
        .finish_logout(q.get("state").map(String::as_str), cookie.as_deref())
        .map_err(|e| HttpError::page(&gw, e, signed_out_link(&gw)))?;
    Ok(redirect(r))
}

/// The next step from a failed logout hop or return: this gateway's signed-out page (which
/// offers to sign in again); the original `rd` is not known there.
fn signed_out_link(gw: &Gw) -> sso_core::ui::PageLinks {
    sso_core::ui::PageLinks {
        try_again: None,
        back: Some(gw.settings().public_route("/signed-out")),
    }
}

pub async fn chain_hop(
    gw: Gw,
    Query(q): Query,
    Credentials(p): Credentials,
) -> Result<HttpResponse, HttpError> {
    let t = q.get("t").cloned().unwrap_or_default();
    let i = q
        .get("i")
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
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
    gw.backchannel_logout(&form)
        .await
        .map_err(HttpError::json)?;
    // BCL 1.0 §2.8: 200, no caching (the scope's `Cache-Control: no-store`).
    Ok(HttpResponse::Ok().finish())
}
