//! Staying signed in: forward-auth, refresh, CORS, big tokens, resource servers, nginx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod big_tokens;
mod cors;
mod express;
mod forward_auth;
mod nginx;
mod refresh;
mod resource;
mod spring;
mod verified_cache;

use sso_integration_tests::browser::Resp;
use sso_integration_tests::world::World;

pub use sso_integration_tests::world::{forward_auth as auth, session_keys};

pub fn header(r: &Resp, name: &str) -> Option<String> {
    r.headers.get(name).map(|v| v.to_str().unwrap().to_string())
}

/// Wait until the access token in the jar has expired (`exp` is whole seconds).
pub async fn wait_for_expiry(ttl_secs: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ttl_secs * 1000 + 1100)).await;
}

pub fn short_lived(ttl: u64) -> World {
    World::start(sso_integration_tests::OpOptions {
        access_token_ttl: Some(ttl),
        ..Default::default()
    })
}
