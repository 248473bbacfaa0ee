//! Logout in the browser: RP-initiated at A reaching B (shared Redis, and separate Redis with
//! the signed cookie-clearing chain through B), and the OP ending the session on its own.

use std::time::Instant;

use sso_integration_tests::chrome::{BrowserCookie, Chrome};
use sso_integration_tests::world::World;

use crate::{is_op_login_page, login_with_password, open_app, sso_cookies, wait_app, Env, WAIT};

/// Every `sso_*` cookie in the jar, whatever its domain.
async fn any_sso_cookies(chrome: &Chrome) -> Vec<BrowserCookie> {
    chrome
        .all_cookies()
        .await
        .into_iter()
        .filter(|c| c.name.starts_with("sso_"))
        .collect()
}

/// Signed in at A with the password, then at B through the OP session alone.
async fn sign_in_at_a_and_b(env: &Env) {
    let chrome = &env.chrome;
    let (app_a, app_b) = (env.app_a(), env.app_b());
    open_app(chrome, &app_a, "Signed out").await;
    login_with_password(chrome, &app_a, "alice", "alice-password").await;
    open_app(chrome, &app_b, "Signed out").await;
    crate::login_without_password(chrome, &app_b).await;
    assert_eq!(chrome.text("#user").await, "alice");
    for d in ["a.localhost", "b.localhost"] {
        let names = sso_cookies(chrome, d).await;
        assert!(
            names.iter().any(|n| n == "sso_at") && names.iter().any(|n| n == "sso_rt"),
            "signed in on {d}: {names:?}"
        );
    }
}

/// Log in at A and B, click "Log out" at A: back at A signed out, B signed out, no `sso_*`
/// cookie left anywhere, and the OP session is gone (A's "Log in" asks for the password).
/// `chain`: the domains share nothing (own Redis each) and A walks the signed clearing chain
/// through B's `/sso/logout/clear`, so B's cookies are gone before B is visited again.
async fn logout_at_a_signs_out_everywhere(chain: bool) {
    let t0 = Instant::now();
    let w = if chain {
        World::start_federated()
    } else {
        World::start(Default::default())
    };
    let env = Env::with_world(w).await;
    let started = t0.elapsed();
    let chrome = &env.chrome;
    let (app_a, app_b) = (env.app_a(), env.app_b());
    sign_in_at_a_and_b(&env).await;
    let signed_in = t0.elapsed();

    // back to A and click "Log out": gateway A (→ B's clearing hop) → the OP's logout page,
    // whose script posts `logout=yes` → back-channel to A and B → /sso/logged-out → rd
    open_app(chrome, &app_a, "Signed in").await;
    chrome.click("#logout").await;
    wait_app(chrome, &app_a, "Signed out").await;
    assert_eq!(chrome.current_url().await.as_str(), app_a, "back at rd");
    assert!(chrome.try_find_css("#login").await.is_some());
    let logged_out = t0.elapsed();
    assert_eq!(
        sso_cookies(chrome, "a.localhost").await,
        Vec::<String>::new()
    );
    assert_eq!(
        sso_cookies(chrome, "auth.a.localhost").await,
        Vec::<String>::new(),
        "sso_logout (host-only, Path=/sso) is cleared by /sso/logged-out"
    );
    let b_left = sso_cookies(chrome, "b.localhost").await;
    if chain {
        // the point of the chain: B's cookies went with the logout, before any visit to B
        assert_eq!(b_left, Vec::<String>::new(), "B's cookies after the chain");
    } else {
        // nothing has been sent to B's domain since: its cookies wait for B's next request
        assert!(
            b_left.iter().any(|n| n == "sso_rt"),
            "B's cookies before B's next request: {b_left:?}"
        );
    }

    // B: signed out on the next visit (and, shared Redis, its stale cookies cleared then)
    open_app(chrome, &app_b, "Signed out").await;
    assert!(chrome.try_find_css("#user").await.is_none());
    let left = any_sso_cookies(chrome).await;
    assert!(left.is_empty(), "sso cookies left after logout: {left:#?}");

    // the OP session ended too: logging in at A again needs the password
    open_app(chrome, &app_a, "Signed out").await;
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    assert!(is_op_login_page(&chrome.current_url().await));
    eprintln!(
        "browser logout (chain: {chain}): world+app+chrome {started:?}, sign in at A and B {:?}, \
         logout at A {:?}, checks {:?}, total {:?}",
        signed_in - started,
        logged_out - signed_in,
        t0.elapsed() - logged_out,
        t0.elapsed()
    );
}

#[tokio::test]
async fn logout_at_a_signs_out_everywhere_shared_redis() {
    logout_at_a_signs_out_everywhere(false).await;
}

#[tokio::test]
async fn logout_at_a_signs_out_everywhere_clearing_chain() {
    logout_at_a_signs_out_everywhere(true).await;
}

/// The OP logs alice out on its own (Keycloak's admin "log out user": back-channel to both
/// gateways, no browser involved). Her access tokens still verify on their own, but the
/// demo page asks the gateway: both apps show "Signed out" on reload, and the gateway's
/// clearing cookies reach the browser through the app.
#[tokio::test]
async fn op_ends_session_without_browser() {
    let t0 = Instant::now();
    let env = Env::start().await;
    let started = t0.elapsed();
    let chrome = &env.chrome;
    let (app_a, app_b) = (env.app_a(), env.app_b());
    sign_in_at_a_and_b(&env).await;
    let signed_in = t0.elapsed();

    // `/api/me` (sso-core's extractor) from the browser: the sso_at cookie of A
    chrome.goto(&format!("{app_a}api/me")).await;
    let me: serde_json::Value = serde_json::from_str(&chrome.text("body").await).unwrap();
    assert_eq!(me["preferred_username"], "alice", "{me}");
    let at_a: String = chrome
        .all_cookies()
        .await
        .into_iter()
        .find(|c| c.name == "sso_at" && c.domain == "a.localhost")
        .map(|c| c.value)
        .unwrap();

    let res = env.w.op.admin_logout("alice").await;
    assert!(
        res["backchannel"].as_array().is_some_and(|b| b.len() >= 2),
        "back-channel to both gateways: {res}"
    );
    let op_done = t0.elapsed();

    // A's access token still verifies on its own (signature, exp): "Signed out" below comes
    // from the gateway, not from an expired token
    let api = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = api
        .get(format!("http://127.0.0.1:{}/api/me", env.demo.port))
        .bearer_auth(&at_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the token is still valid by itself");

    for app in [&app_a, &app_b] {
        open_app(chrome, app, "Signed out").await;
        assert!(chrome.try_find_css("#login").await.is_some());
    }
    let left = any_sso_cookies(chrome).await;
    assert!(
        left.is_empty(),
        "the gateways' clearing cookies reached the browser: {left:#?}"
    );
    // and the OP session is gone: B's "Log in" asks for the password
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    eprintln!(
        "browser OP logout: world+app+chrome {started:?}, sign in at A and B {:?}, admin logout \
         {:?}, reloads and checks {:?}, total {:?}",
        signed_in - started,
        op_done - signed_in,
        t0.elapsed() - op_done,
        t0.elapsed()
    );
}
