//! Log in once at A through the OP's form, then B signs in through the OP session alone.

use std::time::Instant;

use url::Url;

use crate::{is_op_login_page, login_with_password, open_app, sso_cookies, Env};

#[tokio::test]
async fn login_at_a_then_signed_in_at_b_without_password() {
    let t0 = Instant::now();
    let env = Env::start().await;
    let started = t0.elapsed();
    let chrome = &env.chrome;
    let (app_a, app_b) = (env.app_a(), env.app_b());

    // A: signed out; "Log in" goes through gateway A to the OP's login form.
    open_app(chrome, &app_a, "Signed out").await;
    login_with_password(chrome, &app_a, "alice", "alice-password").await;
    assert_eq!(chrome.current_url().await.as_str(), app_a, "back at rd");
    // the history check below can see a login form: A's shows up in it
    assert!(
        chrome.history().await.iter().any(is_op_login_page),
        "{:?}",
        chrome.history().await
    );
    let a_done = t0.elapsed();

    // B: signed out (its own cookie domain), and "Log in" needs no password.
    open_app(chrome, &app_b, "Signed out").await;
    let before = chrome.history().await;
    // fail at once if the OP's form shows up; otherwise wait for the app, signed in
    crate::login_without_password(chrome, &app_b).await;
    assert_eq!(chrome.text("#user").await, "alice");
    let history = chrome.history().await;
    assert_eq!(
        history.get(..before.len()),
        Some(&before[..]),
        "history was rewritten: {history:?}"
    );
    // redirect hops leave no history entry, every page shown does: the click's only page
    // is the app itself, so the OP's login form never appeared
    let shown: Vec<&Url> = history[before.len()..].iter().collect();
    assert_eq!(
        shown,
        vec![&Url::parse(&app_b).unwrap()],
        "pages shown after clicking Log in at B"
    );
    assert!(!chrome.page_source().await.contains("kc-login"));
    let b_done = t0.elapsed();

    // The jar: each gateway's tokens on its own domain only, HttpOnly and Secure.
    let jar = chrome.all_cookies().await;
    for domain in ["a.localhost", "b.localhost"] {
        for name in ["sso_at", "sso_rt"] {
            let c = jar
                .iter()
                .find(|c| c.name == name && c.domain == domain)
                .unwrap_or_else(|| panic!("no {name} for {domain}: {jar:#?}"));
            assert!(!c.host_only, "{name} on {domain} carries Domain=: {c:?}");
            assert!(c.http_only && c.secure, "{name} on {domain}: {c:?}");
        }
    }
    for c in jar.iter().filter(|c| c.name.starts_with("sso_")) {
        assert!(
            (c.domain == "a.localhost" || c.domain == "b.localhost") && !c.host_only,
            "sso cookie outside the two domains: {c:?}"
        );
    }
    let at = |d: &str| {
        jar.iter()
            .find(|c| c.name == "sso_at" && c.domain == d)
            .map(|c| c.value.clone())
    };
    assert_ne!(at("a.localhost"), at("b.localhost"), "one token per domain");
    assert!(sso_cookies(chrome, "a.localhost")
        .await
        .contains(&"sso_rt".to_string()));
    // what the apps on each domain receive
    for (app, domain) in [(&app_a, "a.localhost"), (&app_b, "b.localhost")] {
        let sent = chrome.cookies_for(app).await;
        assert!(
            sent.iter()
                .filter(|(n, _, _)| n.starts_with("sso_"))
                .all(|(_, _, d)| d == domain),
            "{app}: {sent:?}"
        );
    }
    eprintln!(
        "browser SSO: world+app+chrome {started:?}, login at A {:?}, SSO at B {:?}, total {:?}",
        a_done - started,
        b_done - a_done,
        t0.elapsed()
    );
}
