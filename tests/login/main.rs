//! Login: OIDC code flow against the real test OP, cross-domain SSO, cookies, and every
//! rejection of a forged or replayed login response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod flow;
mod forgery;
mod logs;
mod redirects;
mod replay;
mod store;

use sso_integration_tests::world::World;

/// Session keys currently in Redis.
pub async fn session_keys(redis_url: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sso:sess:*")
        .query_async(&mut c)
        .await
        .unwrap();
    keys
}

pub fn world() -> World {
    World::start(Default::default())
}
