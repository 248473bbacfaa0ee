//! The gateway's own pages in Chromium: each says what happened and offers the next step
//! that works from there (Try again with the original `rd`, back to the app, sign out, the
//! automatic retry after `Retry-After`).

use std::time::Duration;

use sso_integration_tests::chrome::{Chrome, ChromeOptions};
use sso_integration_tests::world::{urlencode, World};
use url::Url;

use crate::{is_op_login_page, open_app, screenshot, wait_app, Env, WAIT};

fn desktop() -> ChromeOptions {
    ChromeOptions {
        window_size: Some((900, 650)),
        performance_log: true,
        ..Default::default()
    }
}

/// Status of the last response for a URL whose path ends with `path`.
async fn last_status(chrome: &Chrome, path: &str) -> u16 {
    let seen = chrome.network_responses().await;
    seen.iter()
        .rev()
        .find(|(u, _)| Url::parse(u).is_ok_and(|u| u.path().ends_with(path)))
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("no response for {path}: {seen:?}"))
}

async fn href(chrome: &Chrome, css: &str) -> String {
    let v = chrome
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.href : null;",
            vec![serde_json::json!(css)],
        )
        .await;
    v.as_str()
        .unwrap_or_else(|| panic!("no {css} on the page"))
        .to_string()
}

async fn fill_op_form(chrome: &Chrome) {
    chrome.wait_for("form#login #kc-login", WAIT).await;
    chrome
        .type_into("form#login input[name=username]", "alice")
        .await;
    chrome
        .type_into("form#login input[name=password]", "alice-password")
        .await;
    chrome.click("#kc-login").await;
}

/// Login pages: a state mismatch offers "Try again" with the original `rd` (and it works);
/// the OP refusing the sign-in offers the same; the session store down during the callback
/// gives a 503 page that names the wait and starts the login again by itself once
/// `Retry-After` has passed, which ends signed in at the app.
#[tokio::test]
async fn login_error_pages_offer_try_again_and_honour_retry_after() {
    let env = Env::with_world_and(World::start(Default::default()), desktop()).await;
    let chrome = &env.chrome;
    let app = env.app_a();
    let gw = env.w.a.base();
    let login_with_rd = format!("{gw}/sso/login?rd={}", urlencode(&app));

    // a login started at the app, then a forged answer at the callback
    open_app(chrome, &app, "Signed out").await;
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    chrome
        .goto(&format!("{gw}/sso/callback?code=forged&state=forged"))
        .await;
    chrome
        .wait_for_text("#title", "Sign-in could not be completed", WAIT)
        .await;
    assert_eq!(last_status(chrome, "/sso/callback").await, 400);
    assert!(chrome
        .text("#message")
        .await
        .contains("start the login again"));
    assert_eq!(href(chrome, "#try-again").await, login_with_rd);
    assert_eq!(href(chrome, "#back").await, app);
    screenshot(chrome, "page-state-mismatch").await;
    // "Try again" works: the OP's form again
    chrome.click("#try-again").await;
    chrome
        .wait_for_url("the OP's login form", WAIT, is_op_login_page)
        .await;

    // the OP refuses (its error at the callback, for the login this browser started)
    let auth_url = chrome
        .network_responses()
        .await
        .into_iter()
        .rev()
        .find(|(u, _)| u.contains("/protocol/openid-connect/auth?"))
        .map(|(u, _)| Url::parse(&u).unwrap())
        .expect("the authorization request");
    let state = auth_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .unwrap();
    chrome
        .goto(&format!(
            "{gw}/sso/callback?error=access_denied&error_description=no&state={state}&iss={}",
            urlencode(&env.w.op.issuer)
        ))
        .await;
    chrome
        .wait_for_text("#title", "Sign-in was denied", WAIT)
        .await;
    assert_eq!(last_status(chrome, "/sso/callback").await, 403);
    assert_eq!(href(chrome, "#try-again").await, login_with_rd);
    screenshot(chrome, "page-login-failed").await;

    // the session store hangs while the OP sends the browser back: 503, Retry-After
    chrome.click("#try-again").await;
    chrome
        .wait_for_url("the OP's login form", WAIT, is_op_login_page)
        .await;
    env.w.redis.pause();
    fill_op_form(chrome).await;
    chrome
        .wait_for_text("#title", "Session store unavailable", WAIT)
        .await;
    assert_eq!(last_status(chrome, "/sso/callback").await, 503);
    assert_eq!(
        chrome.text("#retry").await,
        "This page tries again by itself in 5 seconds."
    );
    assert_eq!(href(chrome, "#try-again").await, login_with_rd);
    screenshot(chrome, "page-unavailable").await;
    // Redis back: the page goes to the login by itself, the OP session signs the user in
    env.w.redis.resume();
    chrome
        .wait_for_url("the app, signed in", Duration::from_secs(20), |u| {
            u.as_str() == app
        })
        .await;
    wait_app(chrome, &app, "Signed in").await;
}

/// Logout pages: a sign-out link on another site gets "Sign out?" (403, still signed in)
/// whose button signs out for real; a logout without `rd` ends on "You are signed out",
/// which offers the way back and a new sign-in when given an allowed `rd`.
#[tokio::test]
async fn logout_pages_confirm_and_say_signed_out() {
    let env = Env::with_world_and(World::start(Default::default()), desktop()).await;
    let chrome = &env.chrome;
    let app = env.app_a();
    let gw = env.w.a.base();
    open_app(chrome, &app, "Signed out").await;
    crate::login_with_password(chrome, &app, "alice", "alice-password").await;

    // a link on another site (127.0.0.1 is cross-site for auth.a.localhost)
    chrome
        .goto(&format!(
            "http://127.0.0.1:{}/spa/config.json",
            env.demo.port
        ))
        .await;
    let link = format!("{gw}/sso/logout?rd={}", urlencode(&app));
    chrome
        .execute(
            "location.href = arguments[0];",
            vec![serde_json::json!(link)],
        )
        .await;
    chrome.wait_for_text("#title", "Sign out?", WAIT).await;
    assert_eq!(last_status(chrome, "/sso/logout").await, 403);
    assert_eq!(href(chrome, "#back").await, app);
    screenshot(chrome, "page-logout-confirm").await;
    // "Cancel" goes back, still signed in
    chrome.click("#back").await;
    wait_app(chrome, &app, "Signed in").await;
    chrome.back().await;
    chrome.wait_for_text("#title", "Sign out?", WAIT).await;
    // "Sign out" posts from the gateway's own page: the full logout, back at rd
    chrome.click("#confirm-logout").await;
    wait_app(chrome, &app, "Signed out").await;

    // a logout without rd ends on the gateway's page
    chrome.goto(&format!("{gw}/sso/logout")).await;
    chrome
        .wait_for_text("#title", "You are signed out", WAIT)
        .await;
    assert_eq!(
        chrome.current_url().await.as_str(),
        format!("{gw}/sso/signed-out")
    );
    assert!(chrome.try_find_css("#sign-in").await.is_none());
    // with an allowed rd: "Sign in again" and the way back
    chrome
        .goto(&format!("{gw}/sso/signed-out?rd={}", urlencode(&app)))
        .await;
    chrome
        .wait_for_text("#title", "You are signed out", WAIT)
        .await;
    assert_eq!(href(chrome, "#back").await, app);
    screenshot(chrome, "page-signed-out").await;
    chrome.click("#sign-in").await;
    chrome
        .wait_for_url("the OP's login form", WAIT, is_op_login_page)
        .await;
    // an rd that is not allowed is never offered
    chrome
        .goto(&format!(
            "{gw}/sso/signed-out?rd={}",
            urlencode("https://evil.example/")
        ))
        .await;
    chrome
        .wait_for_text("#title", "You are signed out", WAIT)
        .await;
    assert!(chrome.try_find_css("#back").await.is_none());
    assert!(chrome.try_find_css("#sign-in").await.is_none());
}
