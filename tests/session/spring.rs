//! A Java resource server on a sibling subdomain: the Spring Boot example
//! (`examples/spring-boot`, run from its jar) reads the gateway's `sso_at` cookie (chunks joined
//! as the gateway joins them) or a Bearer token, verifies it against the OP's JWKS, and accepts
//! only tokens issued to the configured gateway clients (`azp`/`client_id`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use crate::{get_me, joined_access_token, tamper};
use std::time::Duration;

use sso_integration_tests::spring::SpringApp;
use sso_integration_tests::world::{login, World, ALICE_SUB};
use sso_integration_tests::{Browser, OpOptions};

/// `jwks_uri` from the OP's discovery document.
async fn jwks_uri(http: &reqwest::Client, issuer: &str) -> String {
    let meta: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    meta["jwks_uri"].as_str().unwrap().to_string()
}

fn cookie_header(cookies: &HashMap<String, String>) -> String {
    cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn assert_401(st: reqwest::StatusCode, h: &reqwest::header::HeaderMap, body: &serde_json::Value) {
    assert_eq!(st, 401, "{body}");
    assert!(
        h.get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer")),
        "401 without WWW-Authenticate: Bearer: {h:?}"
    );
    assert_eq!(body["error"], "unauthorized", "{body}");
}

/// Log in through gateway A (and, same browser, through B), start the Spring app accepting
/// only `gw-a`, and call it as a browser on `app1.a.localhost` would (every cookie the jar
/// holds for that host), with a Bearer token, with nothing, with a tampered token, and with
/// B's token (issued to `gw-b`). `discovery`: give the app only the issuer (it finds the JWKS
/// through discovery) instead of the JWKS URI. Returns how many `sso_at` chunks the browser held.
async fn spring_round_trip(op_opts: OpOptions, discovery: bool) -> usize {
    let w = World::start(op_opts);
    let browser = Browser::new();
    login(&browser, &w.a, "alice", "alice-password").await;
    login(&browser, &w.b, "alice", "alice-password").await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let jwks = if discovery {
        String::new()
    } else {
        jwks_uri(&http, &w.op.issuer).await
    };
    let app = SpringApp::start(&w.op.issuer, &jwks, &["gw-a"]);

    let cookies = browser.jar.cookies_for(&w.a.app_url());
    assert!(
        cookies.contains_key("sso_at"),
        "no sso_at cookie for {} after login: {:?}",
        w.a.app_url(),
        cookies.keys().collect::<Vec<_>>()
    );
    let chunks = cookies
        .keys()
        .filter(|k| *k == "sso_at" || k.starts_with("sso_at."))
        .count();
    let token = joined_access_token(&cookies);

    // 1. the browser's cookies as they are (sso_at chunks in any order, sso_rt too)
    let (st, _, me) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Cookie", &cookie_header(&cookies))],
    )
    .await;
    assert_eq!(st, 200, "sso_at cookie refused: {me}");
    assert_eq!(me["sub"], ALICE_SUB, "{me}");
    assert_eq!(me["preferred_username"], "alice", "{me}");
    assert_eq!(me["azp"], "gw-a", "{me}");

    // 2. the same token as a Bearer header
    let bearer = format!("Bearer {token}");
    let (st, _, me) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(st, 200, "Bearer token refused: {me}");
    assert_eq!(me["sub"], ALICE_SUB, "{me}");

    // 3. no token at all
    let (st, h, body) = get_me(&http, &format!("{}/api/me", app.url()), &[]).await;
    assert_401(st, &h, &body);

    // 4. a tampered token, as the cookie and as a Bearer header
    let bad = tamper(&token);
    let bad_cookie = format!("sso_at={bad}");
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Cookie", &bad_cookie)],
    )
    .await;
    assert_401(st, &h, &body);
    let bad_bearer = format!("Bearer {bad}");
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Authorization", &bad_bearer)],
    )
    .await;
    assert_401(st, &h, &body);

    // 5. Authorization comes first: a bad Bearer next to good cookies is refused, a good
    //    Bearer next to a bad cookie is accepted
    let good_cookies = cookie_header(&cookies);
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Authorization", &bad_bearer), ("Cookie", &good_cookies)],
    )
    .await;
    assert_401(st, &h, &body);
    let (st, _, me) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Authorization", &bearer), ("Cookie", &bad_cookie)],
    )
    .await;
    assert_eq!(st, 200, "{me}");

    // 6. chunks with a gap are not the token: the first chunk alone fails its signature
    if chunks > 1 {
        let first_only = format!("sso_at={}", cookies["sso_at"]);
        let (st, h, body) = get_me(
            &http,
            &format!("{}/api/me", app.url()),
            &[("Cookie", &first_only)],
        )
        .await;
        assert_401(st, &h, &body);
        let without_second: HashMap<String, String> = cookies
            .iter()
            .filter(|(k, _)| k.as_str() != "sso_at.1")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (st, h, body) = get_me(
            &http,
            &format!("{}/api/me", app.url()),
            &[("Cookie", &cookie_header(&without_second))],
        )
        .await;
        assert_401(st, &h, &body);
    }

    // 7. a token issued to another client (gw-b, the gateway of b.localhost) is refused by an
    //    app that accepts only gw-a, as cookie and as Bearer
    let b_cookies = browser.jar.cookies_for(&w.b.app_url());
    let b_token = joined_access_token(&b_cookies);
    assert!(!b_token.is_empty(), "no sso_at after the login at B");
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Cookie", &cookie_header(&b_cookies))],
    )
    .await;
    assert_401(st, &h, &body);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("another client")),
        "{body}"
    );
    let b_bearer = format!("Bearer {b_token}");
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Authorization", &b_bearer)],
    )
    .await;
    assert_401(st, &h, &body);
    chunks
}

#[tokio::test]
async fn spring_resource_server_reads_the_gateway_cookie() {
    let chunks = spring_round_trip(OpOptions::default(), false).await;
    assert_eq!(
        chunks, 1,
        "a default-size token should fit one sso_at cookie"
    );
}

/// A ~9.4 KB access token (150 padding roles) arrives as `sso_at`, `sso_at.1`, `sso_at.2`
/// (Tomcat's default 8 KB header limit is raised in the app's application.properties). This
/// app gets no JWKS URI: it takes `jwks_uri` from the issuer's discovery document.
#[tokio::test]
async fn spring_resource_server_joins_sso_at_chunks() {
    let chunks = spring_round_trip(
        OpOptions {
            big_roles: Some(150),
            ..Default::default()
        },
        true,
    )
    .await;
    assert!(
        chunks >= 3,
        "a 9 KB token should be split into 3+ cookies, got {chunks}"
    );
}

/// The OP's keys cannot be fetched: `503` + `Retry-After` (retry later), never `401` (which
/// would send the user to a login that needs the same OP) nor `500`.
#[tokio::test]
async fn spring_resource_server_answers_503_without_the_jwks() {
    let dead = sso_integration_tests::procs::free_port(); // nothing listens there
    let issuer = format!("http://127.0.0.1:{dead}/realms/demo");
    let app = SpringApp::start(&issuer, &format!("{issuer}/jwks"), &["gw-a"]);
    let http = reqwest::Client::new();
    // any JWS-shaped token with a kid: verifying it needs the key set
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let token = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
        b64(r#"{"sub":"x","azp":"gw-a"}"#)
    );
    let cookie = format!("sso_at={token}");
    let (st, h, body) = get_me(
        &http,
        &format!("{}/api/me", app.url()),
        &[("Cookie", &cookie)],
    )
    .await;
    assert_eq!(st, 503, "{body}");
    assert_eq!(
        h.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5"),
        "{h:?}"
    );
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // without a token it is still a plain 401
    let (st, h, body) = get_me(&http, &format!("{}/api/me", app.url()), &[]).await;
    assert_401(st, &h, &body);
}
