//! sso-core: everything the gateway does, independent of HTTP wiring.
//!
//! The `sso-gateway` binary only extracts requests, calls into this crate and maps errors.

pub mod admin;
pub mod api;
pub mod config;
pub mod cookies;
pub mod error;
pub mod fanout;
pub mod federation;
pub mod forward_auth;
pub mod gateway;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod oidc;
pub mod provenance;
pub mod rate_limit;
pub mod readiness;
pub mod redirect;
pub mod refresh;
pub mod resource;
pub mod revocation;
pub mod secret;
pub mod session;
pub mod store;
pub mod ui;
pub mod util;

pub use error::Error;
pub use gateway::Gateway;
