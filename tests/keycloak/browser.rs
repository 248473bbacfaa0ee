//! Chromium through Keycloak's own pages: log in at A with the password, SSO at B without
//! it, then RP-initiated logout at A through Keycloak's end-session endpoint.

use std::time::{Duration, Instant};

use sso_demo_app::DemoConfig;
use sso_integration_tests::chrome::Chrome;

use crate::demo::DemoApp;
use crate::KcEnv;

const WAIT: Duration = Duration::from_secs(20);

/// Keycloak's login page (served by Keycloak, form `#kc-form-login`)?
fn is_kc_page(u: &url::Url, kc_port: u16) -> bool {
    u.host_str() == Some("127.0.0.1") && u.port() == Some(kc_port)
}

async fn wait_app(chrome: &Chrome, app: &str, status: &str) {
    let want = url::Url::parse(app).unwrap();
    chrome
        .wait_for_url(&format!("the app at {want}"), WAIT, |u| {
            u.host_str() == want.host_str() && u.port() == want.port()
        })
        .await;
    chrome.wait_for_text("#status", status, WAIT).await;
}

async fn sso_cookie_names(chrome: &Chrome) -> Vec<String> {
    let mut v: Vec<String> = chrome
        .all_cookies()
        .await
        .into_iter()
        .filter(|c| c.name.starts_with("sso_"))
        .map(|c| format!("{}@{}", c.name, c.domain))
        .collect();
    v.sort();
    v
}

/// Click "Log in" on the app and fill Keycloak's form.
async fn login_with_keycloak_form(chrome: &Chrome, app: &str, kc_port: u16) {
    chrome.click("#login").await;
    chrome.wait_for("#kc-form-login #kc-login", WAIT).await;
    let at = chrome.current_url().await;
    assert!(is_kc_page(&at, kc_port), "Keycloak's login form at {at}");
    chrome.type_into("#kc-form-login #username", "alice").await;
    chrome
        .type_into("#kc-form-login #password", "alice-password")
        .await;
    chrome.click("#kc-login").await;
    wait_app(chrome, app, "Signed in").await;
    assert_eq!(chrome.text("#user").await, "alice");
}

#[tokio::test]
async fn chromium_login_sso_and_rp_logout_on_keycloak() {
    let t0 = Instant::now();
    let env = KcEnv::start("t-browser").await;
    let kc_port = env.realm.kc.port;
    let demo = DemoApp::start_with(DemoConfig {
        issuer: env.realm.issuer(),
        gateways: vec![
            ("a.localhost".into(), env.a.base()),
            ("b.localhost".into(), env.b.base()),
        ],
        ..Default::default()
    });
    let chrome = Chrome::start().await;
    let (app_a, app_b) = (demo.url("app1.a.localhost"), demo.url("app.b.localhost"));

    // A: Keycloak's own login page
    chrome.goto(&app_a).await;
    wait_app(&chrome, &app_a, "Signed out").await;
    login_with_keycloak_form(&chrome, &app_a, kc_port).await;

    // B: signed in through the Keycloak session alone
    chrome.goto(&app_b).await;
    wait_app(&chrome, &app_b, "Signed out").await;
    chrome.click("#login").await;
    let seen = chrome
        .wait_until("signed in at B, or Keycloak's form", WAIT, || async {
            if chrome.try_find_css("#kc-form-login").await.is_some() {
                return Some(Err(chrome.current_url().await));
            }
            let u = chrome.current_url().await;
            let done = u.host_str() == Some("app.b.localhost")
                && chrome.try_text("#status").await.as_deref() == Some("Signed in");
            done.then_some(Ok(()))
        })
        .await;
    if let Err(u) = seen {
        panic!("B asked for the password at {u}");
    }
    assert_eq!(chrome.text("#user").await, "alice");

    // cookies as with the stand-in OP: per domain, HttpOnly, Secure, Domain=
    let jar = chrome.all_cookies().await;
    for domain in ["a.localhost", "b.localhost"] {
        for name in ["sso_at", "sso_rt"] {
            let c = jar
                .iter()
                .find(|c| c.name == name && c.domain == domain)
                .unwrap_or_else(|| panic!("no {name} for {domain}: {jar:#?}"));
            assert!(!c.host_only && c.http_only && c.secure, "{c:?}");
        }
    }
    assert_eq!(env.realm.sessions("alice").await.len(), 1);
    let signed_in = t0.elapsed();

    // RP-initiated logout at A: gateway → Keycloak's end-session endpoint (id_token_hint,
    // post_logout_redirect_uri, state) → back-channel to A and B → /sso/logged-out → app
    chrome.goto(&app_a).await;
    wait_app(&chrome, &app_a, "Signed in").await;
    chrome.click("#logout").await;
    wait_app(&chrome, &app_a, "Signed out").await;
    assert!(
        env.realm.sessions("alice").await.is_empty(),
        "Keycloak's SSO session ended"
    );
    chrome.goto(&app_b).await;
    wait_app(&chrome, &app_b, "Signed out").await;
    assert_eq!(
        sso_cookie_names(&chrome).await,
        Vec::<String>::new(),
        "no sso_* cookie left"
    );

    // the next login asks for the password
    chrome.goto(&app_a).await;
    wait_app(&chrome, &app_a, "Signed out").await;
    login_with_keycloak_form(&chrome, &app_a, kc_port).await;
    eprintln!(
        "chromium on keycloak: sign in at A and B {signed_in:?}, total {:?}",
        t0.elapsed()
    );
}
