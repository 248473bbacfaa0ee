//! Maps every core error to an HTTP status on purpose: bad input 4xx, OP/Redis failures
//! 502/503. Browsers get a small HTML page, API clients JSON.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use sso_core::error::Error;
use sso_core::oidc::{IdTokenError, OidcError};
use sso_core::store::StoreError;
use sso_core::util::html_escape;

/// A core error plus how the client wants it rendered.
#[derive(Debug)]
pub struct HttpError {
    pub error: Error,
    pub json: bool,
    pub cookies: Vec<cookie::Cookie<'static>>,
}

impl HttpError {
    pub fn html(error: impl Into<Error>) -> Self {
        Self {
            error: error.into(),
            json: false,
            cookies: vec![],
        }
    }
    pub fn json(error: impl Into<Error>) -> Self {
        Self {
            error: error.into(),
            json: true,
            cookies: vec![],
        }
    }
    pub fn with_cookies(mut self, cookies: Vec<cookie::Cookie<'static>>) -> Self {
        self.cookies = cookies;
        self
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
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
        Error::LoginState(_) => (
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
        Error::IssuerMismatch => (
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "invalid_request",
        ),
        Error::CodeRejected => (
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "invalid_grant",
        ),
        Error::IdToken(IdTokenError::NoIdToken) => (
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
        Error::Provider(OidcError::BadResponse(_) | OidcError::Refused(_)) => (
            StatusCode::BAD_GATEWAY,
            "Identity provider error",
            "bad_gateway",
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
    }
}

/// Message safe to show: upstream details are logged, not shown.
fn public_message(e: &Error) -> String {
    match e {
        Error::Provider(_) => "The identity provider could not be reached or answered incorrectly. Try again in a moment.".into(),
        Error::Store(_) => "The session store is unavailable. Try again in a moment.".into(),
        other => other.to_string(),
    }
}

pub fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
<h1>{t}</h1><p id=\"message\">{m}</p></body></html>",
        t = html_escape(title),
        m = html_escape(message)
    );
    HttpResponseBuilder::new(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(body)
}

impl actix_web::ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        classify(&self.error).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title, code) = classify(&self.error);
        if status.is_server_error() {
            tracing::warn!(error = %self.error, status = status.as_u16(), "upstream failure");
        } else {
            tracing::info!(error = %self.error, status = status.as_u16(), "request refused");
        }
        let msg = public_message(&self.error);
        let mut resp = if self.json {
            HttpResponseBuilder::new(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({"error": code, "error_description": msg}))
        } else {
            page(status, title, &msg)
        };
        for c in &self.cookies {
            let _ = resp.add_cookie(c);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        resp
    }
}
