//! The one error type of the core layer. The gateway maps every variant to a status on
//! purpose (no catch-all): bad input is 4xx, a failing OP or store is 502/503.

use crate::oidc::{IdTokenError, OidcError};
use crate::redirect::RedirectError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRedirect(#[from] RedirectError),
    #[error("{0}")]
    BadRequest(BadInput),
    #[error("{0}")]
    LoginState(StateProblem),
    #[error("the identity provider returned an error: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OpCallbackError {
        error: String,
        description: Option<String>,
    },
    #[error("the authorization response came from an unexpected issuer (RFC 9207)")]
    IssuerMismatch,
    #[error("the authorization code was refused: it is invalid, expired or already used")]
    CodeRejected,
    #[error("{0}")]
    IdToken(#[from] IdTokenError),
    #[error("not signed in: {0}")]
    Unauthenticated(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid logout token: {0}")]
    LogoutToken(String),
    #[error("{0}")]
    Provider(#[from] OidcError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A bug or an impossible state (a cookie that cannot be sealed): 500, never a
    /// half-built answer.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// What was wrong with a request's input (400), said so that the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    #[error("the query string is malformed")]
    MalformedQuery,
    #[error("parameter {0} is repeated")]
    RepeatedParameter(String),
    #[error("the query string is invalid: {0}")]
    InvalidQuery(String),
    #[error("the form is malformed")]
    MalformedForm,
    #[error("the form body is invalid: {0}")]
    InvalidForm(String),
    #[error("parameter {0} is too long or has control characters")]
    ParameterTooLong(String),
    #[error("parameter {0} has an invalid value")]
    ParameterInvalid(String),
    #[error("max_age must be a non-negative number of seconds")]
    MaxAge,
    #[error("the login response has no code")]
    MissingCode,
    #[error("sub must be 1 to 255 characters")]
    Subject,
    #[error("no logout is in progress in this browser")]
    NoLogoutInProgress,
    #[error("the logout response does not match this browser's logout")]
    LogoutMismatch,
    #[error("the logout chain link is invalid, expired, or not for this gateway")]
    ChainLinkInvalid,
    #[error("this logout link is for another session")]
    ChainLinkOtherSession,
    #[error("this logout chain link was already used")]
    ChainLinkUsed,
    #[error("the logout chain names an unknown gateway")]
    ChainUnknownHop,
    #[error("the logout chain ends at an unknown target")]
    ChainUnknownEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateProblem {
    #[error("the login response has no state parameter")]
    Missing,
    #[error("the login state does not match this browser's login (tampered, from another browser, or the login cookie is missing); start the login again")]
    Unknown,
    #[error("the login took too long and expired; start the login again")]
    Expired,
    #[error("this login response was already used; start the login again")]
    Replayed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
