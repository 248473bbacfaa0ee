//! Maps every core error to an HTTP status on purpose: bad input 4xx, OP/Redis failures
//! 502/503. Browsers get a small HTML page, API clients JSON.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use sso_core::error::Error;
use sso_core::oidc::{IdTokenError, OidcError};
use sso_core::store::StoreError;
use sso_core::ui::{PageContext, PageKind, PageLinks, Pages};

/// Seconds a `503` asks the client to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 5;

/// A core error plus how the client wants it rendered.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct HttpError {
    pub error: Error,
    pub json: bool,
    pub cookies: Vec<cookie::Cookie<'static>>,
    /// The gateway's templates and the next steps for the page (HTML only).
    pub page: Option<Box<(std::sync::Arc<Pages>, PageLinks)>>,
}

impl HttpError {
    fn new(
        error: impl Into<Error>,
        json: bool,
        page: Option<(std::sync::Arc<Pages>, PageLinks)>,
    ) -> Self {
        Self {
            error: error.into(),
            json,
            cookies: vec![],
            page: page.map(Box::new),
        }
    }
    /// JSON when `json`, else a page with the gateway's templates (the built-in ones without
    /// a gateway) and no links.
    pub fn plain(gw: Option<&crate::routes::Gw>, json: bool, error: impl Into<Error>) -> Self {
        let pages = gw.map(|gw| (gw.settings().pages.clone(), PageLinks::default()));
        Self::new(error, json, pages)
    }
    /// An HTML page with the gateway's templates and its next steps (`links`).
    pub fn page(gw: &sso_core::Gateway, error: impl Into<Error>, links: PageLinks) -> Self {
        Self::new(error, false, Some((gw.settings().pages.clone(), links)))
    }
    pub fn json(error: impl Into<Error>) -> Self {
        Self::new(error, true, None)
    }
    pub fn with_cookies(mut self, cookies: Vec<cookie::Cookie<'static>>) -> Self {
        self.cookies = cookies;
        self
    }
}

/// (status, short title, OAuth-style error code) for every variant.
pub fn classify(e: &Error) -> (StatusCode, &'static str, &'static str) {
    match e {
        Error::BadRedirect(_) => (
            StatusCode::BAD_REQUEST,
            "Redirect not allowed",
            "invalid_request",
        ),
        Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request", "invalid_request"),
        Error::LoginState(_) | Error::IssuerMismatch => (
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "invalid_request",
        ),
        Error::OpCallbackError { error, .. } if error == "access_denied" => {
            (StatusCode::FORBIDDEN, "Sign-in was denied", "access_denied")
        }
        Error::OpCallbackError { .. } => (
            StatusCode::BAD_REQUEST,
            "Sign-in failed at the identity provider",
            "login_failed",
        ),
        Error::CodeRejected => (
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "invalid_grant",
        ),
        Error::IdToken(IdTokenError::NoIdToken)
        | Error::Provider(OidcError::BadResponse(_) | OidcError::Refused(_)) => (
            StatusCode::BAD_GATEWAY,
            "Identity provider error",
            "bad_gateway",
        ),
        Error::IdToken(_) => (
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "invalid_token",
        ),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Not signed in", "unauthenticated"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden", "forbidden"),
        Error::LogoutToken(_) => (
            StatusCode::BAD_REQUEST,
            "Invalid logout token",
            "invalid_request",
        ),
        Error::Provider(OidcError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Identity provider unavailable",
            "temporarily_unavailable",
        ),
        Error::Provider(OidcError::InvalidGrant(_)) => {
            (StatusCode::UNAUTHORIZED, "Session ended", "invalid_grant")
        }
        Error::Store(StoreError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Session store unavailable",
            "temporarily_unavailable",
        ),
        Error::Store(StoreError::Corrupt(_)) => (
            StatusCode::BAD_GATEWAY,
            "Session store error",
            "bad_gateway",
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "server_error",
        ),
    }
}

/// Message safe to show: upstream details are logged, not shown.
fn public_message(e: &Error) -> String {
    match e {
        Error::Provider(_) => "The identity provider could not be reached or answered incorrectly. Try again in a moment.".into(),
        Error::Store(_) => "The session store is unavailable. Try again in a moment.".into(),
        Error::Internal(_) => "Something went wrong on our side. Try again in a moment.".into(),
        other => other.to_string(),
    }
}

/// The page kind (template) for an error.
pub fn page_kind(e: &Error, status: StatusCode) -> PageKind {
    match e {
        _ if status.is_server_error() => PageKind::Unavailable,
        Error::LoginState(_) => PageKind::StateMismatch,
        Error::OpCallbackError { .. }
        | Error::IssuerMismatch
        | Error::CodeRejected
        | Error::IdToken(_) => PageKind::LoginFailed,
        _ => PageKind::Error,
    }
}

/// A rendered page as an answer: a CSP that allows nothing remote (inline styles only), no
/// framing (and, as every answer under the prefix, `Cache-Control: no-store`).
pub fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponseBuilder::new(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(body)
}

/// The error page for `e`: what happened, and the next steps in `links`.
fn error_page(pages: &Pages, e: &Error, links: &PageLinks) -> HttpResponse {
    let (status, title, code) = classify(e);
    let kind = page_kind(e, status);
    let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECS);
    let ctx = PageContext {
        status: status.as_u16(),
        title: title.to_string(),
        message: public_message(e),
        code: code.to_string(),
        try_again: links.try_again.clone(),
        back: links.back.clone(),
        retry_after,
        // a 503 page starts the login again by itself once Retry-After has passed
        refresh_url: retry_after.and(links.try_again.clone()),
        ..Default::default()
    };
    html_response(status, pages.render(kind, &ctx))
}

impl actix_web::ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        classify(&self.error).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, _, code) = classify(&self.error);
        if status.is_server_error() {
            tracing::warn!(error = %self.error, status = status.as_u16(), "upstream failure");
        } else {
            tracing::info!(error = %self.error, status = status.as_u16(), "request refused");
        }
        let msg = public_message(&self.error);
        let mut resp = if self.json {
            HttpResponseBuilder::new(status)
                .json(serde_json::json!({"error": code, "error_description": msg}))
        } else if let Some((pages, links)) = self.page.as_deref() {
            error_page(pages, &self.error, links)
        } else {
            error_page(&Pages::builtin(), &self.error, &PageLinks::default())
        };
        set_cookies(&mut resp, &self.cookies);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECS),
            );
        }
        resp
    }
}

/// `Set-Cookie` for each cookie. Core builds them, so a failure is a bug: logged, never a
/// half-sent cookie.
pub fn set_cookies(resp: &mut HttpResponse, cookies: &[cookie::Cookie<'static>]) {
    for c in cookies {
        if let Err(e) = resp.add_cookie(c) {
            tracing::error!(error = %e, cookie = c.name(), "a cookie could not be set");
        }
    }
}
