//! Tampered, missing and replayed `state`; replayed `code`; wrong `iss` parameter.

use sso_integration_tests::browser::Resp;
use sso_integration_tests::world::urlencode;
use sso_integration_tests::Browser;
use url::Url;

use crate::{session_keys, world};

/// Run a login up to (not including) the callback; returns the callback URL.
async fn until_callback(browser: &Browser, w: &sso_integration_tests::world::World) -> Url {
    let start = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&w.a.app_url()));
    let stop = |u: &Url| u.path() == "/sso/callback";
    let hops = browser.follow(&start, stop).await;
    let last = hops.last().unwrap();
    let hops = if last.body.contains("id=\"login\"") {
        browser
            .submit_login(last, "alice", "alice-password", stop)
            .await
    } else {
        hops
    };
    hops.last().unwrap().location().unwrap()
}

fn with_param(u: &Url, name: &str, value: Option<&str>) -> String {
    let mut out = u.clone();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    out.to_string()
}

fn assert_refused(r: &Resp, needle: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.to_lowercase().contains(needle),
        "page should mention {needle:?}: {}",
        r.body
    );
    assert!(
        r.set_cookie("sso_at").is_none() && r.set_cookie("sso_rt").is_none(),
        "{:?}",
        r.set_cookies()
    );
    assert!(r.headers.get("location").is_none(), "never redirected");
}

#[tokio::test]
async fn tampered_state_is_refused() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    let r = b
        .get(&with_param(&cb, "state", Some("forged-state-value")))
        .await;
    assert_refused(&r, "state");
    assert!(session_keys(&w.redis.url()).await.is_empty());
}

#[tokio::test]
async fn missing_state_is_refused() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    let r = b.get(&with_param(&cb, "state", None)).await;
    assert_refused(&r, "state");
    assert!(session_keys(&w.redis.url()).await.is_empty());
}

#[tokio::test]
async fn state_from_another_browser_is_refused() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    // Login CSRF: the attacker's callback URL opened in the victim's browser.
    let victim = Browser::new();
    let r = victim.get(cb.as_str()).await;
    assert_refused(&r, "state");
    assert!(session_keys(&w.redis.url()).await.is_empty());
}

#[tokio::test]
async fn replayed_state_is_refused_even_with_the_old_login_cookie() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    let saved = b.jar.cookies_for(cb.as_str())["sso_login"].clone();
    let ok = b.get(cb.as_str()).await;
    assert_eq!(ok.status, 302);
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);
    // put the consumed login cookie back and replay the same response
    let replay = Browser::new();
    replay
        .jar
        .store(&cb, &format!("sso_login={saved}; Path=/sso"));
    let r = replay.get(cb.as_str()).await;
    assert_refused(&r, "already used");
    assert_eq!(
        session_keys(&w.redis.url()).await.len(),
        1,
        "no second session"
    );
}

#[tokio::test]
async fn replayed_code_is_refused() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    let code = cb
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(b.get(cb.as_str()).await.status, 302);
    // a fresh login in the same browser (SSO: straight back with a new code and state)
    let cb2 = until_callback(&b, &w).await;
    let r = b.get(&with_param(&cb2, "code", Some(&code))).await;
    assert_refused(&r, "code");
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);
}

#[tokio::test]
async fn wrong_or_missing_iss_parameter_is_refused() {
    let w = world();
    let b = Browser::new();
    let cb = until_callback(&b, &w).await;
    let r = b
        .get(&with_param(
            &cb,
            "iss",
            Some("http://127.0.0.1:1/realms/evil"),
        ))
        .await;
    assert_refused(&r, "issuer");
    let b2 = Browser::new();
    let cb = until_callback(&b2, &w).await;
    // the test OP advertises RFC 9207 support, so a missing iss is refused too
    let r = b2.get(&with_param(&cb, "iss", None)).await;
    assert_refused(&r, "issuer");
    assert!(session_keys(&w.redis.url()).await.is_empty());
}
