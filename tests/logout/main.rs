//! Logging out: RP-initiated, back-channel, every replica, every root domain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod backchannel;
mod fanout;
mod replicas;
mod rp;

use sso_integration_tests::browser::Resp;
use sso_integration_tests::world::GatewayHandle;
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

pub async fn auth(b: &Browser, g: &GatewayHandle) -> Resp {
    b.get_with(&g.url("/sso/auth"), &[("X-Original-URL", &g.app_url())])
        .await
}

/// `/sso/auth` with exactly these cookies (another replica, another browser).
pub async fn auth_with_cookies(
    g: &GatewayHandle,
    cookies: &std::collections::HashMap<String, String>,
) -> Resp {
    let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Browser::new()
        .get_with(&g.url("/sso/auth"), &[("Cookie", &header.join("; "))])
        .await
}

/// Poll until `f` is true (fan-out and pub/sub are asynchronous), at most `secs`.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}
