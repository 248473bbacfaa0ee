//! A non-Rust resource server on a sibling subdomain: the Express example
//! (`examples/express/server.mjs`) reads the gateway's `sso_at` cookie (chunks joined in
//! order) or a Bearer token and verifies it against the OP's JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{get_me, joined_access_token, tamper};
use std::time::Duration;

use sso_integration_tests::procs::NodeService;
use sso_integration_tests::world::{login, World};
use sso_integration_tests::{Browser, OpOptions};

/// `node examples/express/server.mjs` on a free loopback port; killed in `Drop`.
struct Express(NodeService);

impl Express {
    fn start(issuer: &str) -> Self {
        let env = [
            ("ISSUER", issuer.to_string()),
            ("PORT", "0".to_string()),
            ("HOST", "127.0.0.1".to_string()),
            ("EXIT_ON_STDIN_EOF", "1".to_string()),
            ("ACCEPTED_CLIENTS", "gw-a,gw-b".to_string()),
        ];
        Self(NodeService::start(
            "examples/express",
            "jose",
            &env,
            "EXPRESS_LISTENING",
            "EXPRESS_LOG",
        ))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.base)
    }
}

/// Log in through gateway A, then call the Express app the way a browser on `app1.a.localhost`
/// would (every cookie the jar holds for that host), with a Bearer token, with nothing, and
/// with a tampered token. Returns how many `sso_at` chunks the browser held.
async fn express_round_trip(op_opts: OpOptions) -> usize {
    let w = World::start(op_opts);
    let browser = Browser::new();
    login(&browser, &w.a, "alice", "alice-password").await;
    let ex = Express::start(&w.op.issuer);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

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
    let cookie_header = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let (st, _, me) = get_me(&http, &ex.url("/api/me"), &[("Cookie", &cookie_header)]).await;
    assert_eq!(st, 200, "sso_at cookie refused: {me}");
    assert_eq!(me["preferred_username"], "alice", "{me}");
    assert_eq!(me["email"], "alice@example.com", "{me}");
    assert_eq!(me["sub"], "1b8f0e3c-0000-4000-8000-00000000a11c", "{me}");

    // 2. the same token as a Bearer header
    let bearer = format!("Bearer {token}");
    let (st, _, me) = get_me(&http, &ex.url("/api/me"), &[("Authorization", &bearer)]).await;
    assert_eq!(st, 200, "Bearer token refused: {me}");
    assert_eq!(me["preferred_username"], "alice", "{me}");

    // 3. no token at all
    let (st, h, body) = get_me(&http, &ex.url("/api/me"), &[]).await;
    assert_eq!(st, 401, "{body}");
    assert!(
        h.get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer")),
        "401 without WWW-Authenticate: Bearer: {h:?}"
    );
    assert_eq!(body["error"], "unauthorized", "{body}");

    // 4. a tampered token, as the cookie and as a Bearer header
    let bad = tamper(&token);
    let bad_cookie = format!("sso_at={bad}");
    let (st, _, body) = get_me(&http, &ex.url("/api/me"), &[("Cookie", &bad_cookie)]).await;
    assert_eq!(st, 401, "tampered sso_at accepted: {body}");
    let bad_bearer = format!("Bearer {bad}");
    let (st, _, body) = get_me(&http, &ex.url("/api/me"), &[("Authorization", &bad_bearer)]).await;
    assert_eq!(st, 401, "tampered Bearer token accepted: {body}");

    // 5. chunks out of order or with a gap are not a token
    if chunks > 1 {
        let first_only = format!("sso_at={}", cookies["sso_at"]);
        let (st, _, body) = get_me(&http, &ex.url("/api/me"), &[("Cookie", &first_only)]).await;
        assert_eq!(st, 401, "first chunk alone accepted: {body}");
    }
    chunks
}

#[tokio::test]
async fn express_resource_server_reads_the_gateway_cookie() {
    let chunks = express_round_trip(OpOptions::default()).await;
    assert_eq!(
        chunks, 1,
        "a default-size token should fit one sso_at cookie"
    );
}

/// A ~9.4 KB access token (150 padding roles) arrives as `sso_at`, `sso_at.1`, `sso_at.2`.
#[tokio::test]
async fn express_resource_server_joins_sso_at_chunks() {
    let chunks = express_round_trip(OpOptions {
        big_roles: Some(150),
        ..Default::default()
    })
    .await;
    assert!(
        chunks >= 3,
        "a 9 KB token should be split into 3+ cookies, got {chunks}"
    );
}
