//! Login: OIDC code flow against the real test OP, cross-domain SSO, cookies, and every
//! rejection of a forged or replayed login response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_flows;
mod flow;
mod forgery;
mod logs;
mod pages;
mod rate_limit;
mod redirects;
mod replay;
mod store;

use sso_integration_tests::world::World;

pub use sso_integration_tests::world::session_keys;

pub fn world() -> World {
    World::start(Default::default())
}
