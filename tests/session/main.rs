//! Staying signed in: forward-auth, refresh, CORS, big tokens, resource servers, nginx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod big_tokens;
mod cors;
mod express;
mod forward_auth;
mod nginx;
mod refresh;

use sso_integration_tests::browser::Resp;
use sso_integration_tests::world::{GatewayHandle, World};
use sso_integration_tests::Browser;

pub async fn session_keys(redis_url: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("sso:sess:*")
        .query_async(&mut c)
        .await
        .unwrap()
}

/// `GET /sso/auth` as nginx would send it.
pub async fn auth(b: &Browser, g: &GatewayHandle) -> Resp {
    b.get_with(&g.url("/sso/auth"), &[("X-Original-URL", &g.app_url())])
        .await
}

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
