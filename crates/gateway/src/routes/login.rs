//! `GET /sso/login` and `GET /sso/callback`.

use actix_web::http::header;
use actix_web::HttpResponse;
use sso_core::api::Redirect;
use sso_core::login::CallbackParams;

use super::Gw;
use crate::error::HttpError;
use crate::extract::{Credentials, LoginCookie, Query, StateCookie};

pub fn redirect(r: Redirect) -> HttpResponse {
    let mut resp = HttpResponse::Found()
        .insert_header((header::LOCATION, r.location))
        .finish();
    crate::error::set_cookies(&mut resp, &r.cookies);
    resp
}

pub async fn login(
    gw: Gw,
    Query(q): Query,
    StateCookie(cookie): LoginCookie,
) -> Result<HttpResponse, HttpError> {
    let r = gw.start_login(&q, cookie.as_deref()).await.map_err(|e| {
        let links = gw.login_links(q.get("rd").map(String::as_str));
        HttpError::page(&gw, e, links)
    })?;
    Ok(redirect(r))
}

pub async fn callback(
    gw: Gw,
    q: Result<Query, HttpError>,
    Credentials(previous): Credentials,
    StateCookie(cookie): LoginCookie,
) -> Result<HttpResponse, HttpError> {
    let clear = vec![gw.cookies().clear_login()];
    // "Try again" goes to the login this browser started, when its rd is still allowed
    let links = |state: Option<&str>| {
        let rd = gw.pending_login_rd(state, cookie.as_deref());
        gw.login_links(rd.as_deref())
    };
    let Query(q) =
        q.map_err(|e| HttpError::page(&gw, e.error, links(None)).with_cookies(clear.clone()))?;
    let params = CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        iss: q.get("iss").cloned(),
        error: q.get("error").cloned(),
        error_description: q.get("error_description").cloned(),
    };
    let r = gw
        .finish_login(&params, cookie.as_deref(), &previous)
        .await
        .map_err(|e| HttpError::page(&gw, e, links(params.state.as_deref())).with_cookies(clear))?;
    Ok(redirect(r))
}
