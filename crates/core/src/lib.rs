//! sso-core: everything the gateway does, independent of HTTP wiring.
//!
//! The `sso-gateway` binary only extracts requests, calls into this crate and maps errors.

pub mod config;
pub mod cookies;
pub mod oidc;
pub mod redirect;
pub mod secret;
pub mod store;
pub mod util;
