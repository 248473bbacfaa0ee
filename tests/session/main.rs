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

/// Flip one character in the middle of the JWT payload (the signature no longer matches).
pub fn tamper(jwt: &str) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "sso_at is not a JWS compact token");
    let mut payload: Vec<char> = parts[1].chars().collect();
    let mid = payload.len() / 2;
    payload[mid] = if payload[mid] == 'A' { 'B' } else { 'A' };
    let payload: String = payload.into_iter().collect();
    let out = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_ne!(out, jwt);
    out
}

/// `GET me_url` of a resource server with `headers`: status, headers and the JSON body.
pub async fn get_me(
    http: &reqwest::Client,
    me_url: &str,
    headers: &[(&str, &str)],
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let mut rb = http.get(me_url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let h = r.headers().clone();
    let body = r.text().await.unwrap();
    let json =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body:?}"));
    (status, h, json)
}

/// `cmdstat_<command>` call counts of a redis-server (`INFO commandstats`).
pub async fn command_stats(redis_url: &str) -> std::collections::HashMap<String, u64> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (cmd, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((cmd.to_string(), calls))
        })
        .collect()
}

/// The access token a browser holding `cookies` presents: `sso_at`, `sso_at.1`, … joined the
/// way the gateway itself joins them (`sso_core::cookies::join_access`).
pub fn joined_access_token(cookies: &std::collections::HashMap<String, String>) -> String {
    sso_core::cookies::join_access(|n| cookies.get(n).cloned())
        .0
        .map(|t| t.secret().to_string())
        .unwrap_or_default()
}
