//! End to end in headless Chromium: the demo app on sibling subdomains of two gateways,
//! the real test OP and Redis, driven through chromedriver (`sso_integration_tests::chrome`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod demo;
mod logout;
mod pages;
mod spa;
mod sso;

use std::time::Duration;

use sso_demo_app::DemoConfig;
use sso_integration_tests::chrome::{Chrome, ChromeOptions};
use sso_integration_tests::procs::OpOptions;
use sso_integration_tests::world::{bind, World};

pub use demo::DemoApp;

/// Upper bound for any single wait on the browser (a page, a redirect chain).
pub const WAIT: Duration = Duration::from_secs(10);

/// World (Redis, OP, gateways A and B), the demo app wired to both gateways, and a browser.
pub struct Env {
    // field order is drop order: browser first, then the app, then what they talk to
    pub chrome: Chrome,
    pub demo: DemoApp,
    pub w: World,
}

impl Env {
    pub async fn start() -> Self {
        Self::with_world(World::start(Default::default())).await
    }

    /// The demo app and a browser on an already started `w`.
    pub async fn with_world(w: World) -> Self {
        Self::with_world_and(w, ChromeOptions::default()).await
    }

    /// The demo app on `w` and a browser started with `opts`.
    pub async fn with_world_and(w: World, opts: ChromeOptions) -> Self {
        let demo = DemoApp::start(&w);
        let chrome = Chrome::start_with(opts).await;
        Self { chrome, demo, w }
    }

    /// For the SPA (`/spa/`): the demo app's listener is bound first, so that the gateways
    /// allow its two SPA origins in `[cors]` and its `/api/me` allows them too; `/api/me`
    /// checks `exp` without leeway (short access tokens expire there when the OP says).
    /// `chrome` gets the world and the demo app's port (app mode needs the URL, cookie
    /// blocking the gateway's origin).
    pub async fn spa(op: OpOptions, chrome: impl FnOnce(&World, u16) -> ChromeOptions) -> Self {
        let (listener, port) = bind();
        let origins = spa_origins(port);
        let w = World::start_with(op, move |o| {
            // the gateway refreshes a token the moment it expires, as the API refuses it
            o.oidc_extra.push_str("clock_leeway_secs = 0\n");
            let origin = if o.domain == "a" {
                &origins[0]
            } else {
                &origins[1]
            };
            o.extra
                .push_str(&format!("[cors]\nallowed_origins = [\"{origin}\"]\n"));
        });
        let demo = DemoApp::start_on(
            listener,
            DemoConfig {
                issuer: w.op.issuer.clone(),
                gateways: vec![
                    ("a.localhost".into(), w.a.base()),
                    ("b.localhost".into(), w.b.base()),
                ],
                cors_origins: spa_origins(port).to_vec(),
                api_leeway_secs: Some(0),
            },
        );
        let chrome = Chrome::start_with(chrome(&w, port)).await;
        Self { chrome, demo, w }
    }

    /// The SPA on `app1.a.localhost` (`http://app1.a.localhost:<port>/spa/`).
    pub fn spa_a(&self) -> String {
        format!("{}spa/", self.app_a())
    }

    /// The SPA on `app.b.localhost`.
    pub fn spa_b(&self) -> String {
        format!("{}spa/", self.app_b())
    }

    /// The demo app on `app1.a.localhost`.
    pub fn app_a(&self) -> String {
        self.demo.url("app1.a.localhost")
    }

    /// The demo app on `app.b.localhost`.
    pub fn app_b(&self) -> String {
        self.demo.url("app.b.localhost")
    }
}

/// Names of the `sso_*` cookies the browser holds for exactly `domain` (a `Domain=domain`
/// cookie or a host-only cookie of that host), sorted. Empty after a complete logout there.
pub async fn sso_cookies(chrome: &Chrome, domain: &str) -> Vec<String> {
    let mut names: Vec<String> = chrome
        .all_cookies()
        .await
        .into_iter()
        .filter(|c| c.name.starts_with("sso_") && c.domain == domain)
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

/// Open `url` and wait until the demo app shows `status` ("Signed in" / "Signed out").
pub async fn open_app(chrome: &Chrome, url: &str, status: &str) {
    chrome.goto(url).await;
    wait_app(chrome, url, status).await;
}

/// Wait until the browser is on the demo app page `url` and it shows `status`.
pub async fn wait_app(chrome: &Chrome, url: &str, status: &str) {
    let want = url::Url::parse(url).unwrap();
    chrome
        .wait_for_url(&format!("the app at {want}"), WAIT, |u| {
            u.host_str() == want.host_str() && u.port() == want.port()
        })
        .await;
    chrome.wait_for_text("#status", status, WAIT).await;
}

/// On the OP's login page (the test OP's interaction URLs)?
pub fn is_op_login_page(u: &url::Url) -> bool {
    u.host_str() == Some("127.0.0.1") && u.path().contains("/interaction/")
}

/// From the demo app page `app` (signed out): click "Log in", fill the OP's form, and wait
/// until the app shows `user` signed in. Returns the URL the form was shown at.
pub async fn login_with_password(
    chrome: &Chrome,
    app: &str,
    user: &str,
    password: &str,
) -> url::Url {
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    let form_url = chrome.current_url().await;
    assert!(is_op_login_page(&form_url), "login form at {form_url}");
    chrome
        .type_into("form#login input[name=username]", user)
        .await;
    chrome
        .type_into("form#login input[name=password]", password)
        .await;
    chrome.click("#kc-login").await;
    wait_app(chrome, app, "Signed in").await;
    assert_eq!(chrome.text("#user").await, user);
    form_url
}

/// Click "Log in" on `app` and wait until it shows Signed in, failing at once if the OP's
/// login form appears (SSO must not ask for the password again).
pub async fn login_without_password(chrome: &Chrome, app: &str) {
    chrome.click("#login").await;
    let host = url::Url::parse(app).unwrap().host_str().map(str::to_string);
    let seen = chrome
        .wait_until("signed in or the OP's login form", WAIT, || async {
            let u = chrome.current_url().await;
            if is_op_login_page(&u) {
                return Some(Err(u));
            }
            let signed_in = u.host_str() == host.as_deref()
                && chrome.try_text("#status").await.as_deref() == Some("Signed in");
            signed_in.then_some(Ok(()))
        })
        .await;
    if let Err(u) = seen {
        panic!("{app} asked for a password: the OP's login form is at {u}");
    }
}

/// The SPA origins the gateways (and `/api/me`) allow: A's, then B's.
pub fn spa_origins(port: u16) -> [String; 2] {
    [
        format!("http://app1.a.localhost:{port}"),
        format!("http://app.b.localhost:{port}"),
    ]
}

/// Save a PNG of the viewport as `<name>.png` in `SSO_SCREENSHOTS` (`make screenshots`
/// points it at `docs/img`), by default in `target/screenshots`.
pub async fn screenshot(chrome: &Chrome, name: &str) {
    let dir = std::env::var_os("SSO_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    let png = chrome.screenshot_png().await;
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}
