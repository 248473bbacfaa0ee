//! Proven against Keycloak itself: the real server (`deploy/keycloak/VERSION`) with the
//! shipped realm, both gateways (`a.localhost`, `b.localhost`), real Redis, and Chromium
//! where a browser is the user. One Keycloak for the whole binary
//! (`sso_integration_tests::keycloak`); each test gets its own realm made from the shipped
//! file, so tests that log users out or rotate keys do not disturb each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
#[allow(dead_code)]
#[path = "../browser/demo.rs"]
mod demo;
mod keys;
mod logout;
mod refresh;
mod rig;
mod spring;
mod tokens;

use serde_json::Value;
use sso_integration_tests::browser::{form_action, Browser};
use sso_integration_tests::keycloak::{Keycloak, Realm, GW_A_SECRET, GW_B_SECRET};
use sso_integration_tests::procs::Redis;
use sso_integration_tests::world::{bind, urlencode, GatewayHandle, GatewayOptions};

/// A realm made from the shipped file, gateways A and B on one Redis.
pub struct KcEnv {
    pub a: GatewayHandle,
    pub b: GatewayHandle,
    pub a_opts: GatewayOptions,
    pub b_opts: GatewayOptions,
    pub realm: Realm,
    pub redis: Redis,
}

impl KcEnv {
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, |_| {}, |_| {}).await
    }

    /// `realm_tweak` changes the realm representation before it is created,
    /// `gw_tweak` each gateway's options.
    pub async fn start_with(
        name: &str,
        realm_tweak: impl FnOnce(&mut Value),
        gw_tweak: impl Fn(&mut GatewayOptions),
    ) -> Self {
        let kc = Keycloak::shared();
        let redis = Redis::start();
        let (la, pa) = bind();
        let (lb, pb) = bind();
        let realm = kc.realm(name, pa, pb, realm_tweak).await;
        let issuer = realm.issuer();
        let mut a_opts = GatewayOptions::new("a", &issuer, Some(redis.url()));
        a_opts.client_secret = GW_A_SECRET.into();
        a_opts.peer_port = Some(pb);
        gw_tweak(&mut a_opts);
        let mut b_opts = GatewayOptions::new("b", &issuer, Some(redis.url()));
        b_opts.client_secret = GW_B_SECRET.into();
        // Keycloak takes either client authentication for a client-secret client
        b_opts.auth_method = "client_secret_post";
        b_opts.peer_port = Some(pa);
        gw_tweak(&mut b_opts);
        let (a, b) = tokio::task::spawn_blocking({
            let (ao, bo) = (a_opts.clone(), b_opts.clone());
            move || (GatewayHandle::start(la, &ao), GatewayHandle::start(lb, &bo))
        })
        .await
        .unwrap();
        Self {
            a,
            b,
            a_opts,
            b_opts,
            realm,
            redis,
        }
    }

    /// Another replica of gateway A (same config, same Redis).
    pub async fn replica_of_a(&self) -> GatewayHandle {
        let o = self.a_opts.clone();
        tokio::task::spawn_blocking(move || GatewayHandle::start(bind().0, &o))
            .await
            .unwrap()
    }
}

/// Is `html` Keycloak's login form?
pub fn is_kc_login(html: &str) -> bool {
    html.contains("id=\"kc-form-login\"")
}

/// Log in at gateway `g` with the Rust browser through Keycloak's own login form (or,
/// with a live Keycloak session, without one). Returns whether the form was shown.
pub async fn kc_login(b: &Browser, g: &GatewayHandle, user: &str, password: &str) -> bool {
    let rd = g.app_url();
    let app_host = url::Url::parse(&rd)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let stop = |u: &url::Url| u.host_str() == Some(app_host.as_str());
    let start = format!("{}?rd={}", g.url("/sso/login"), urlencode(&rd));
    let hops = b.follow(&start, stop).await;
    let last = hops.last().unwrap();
    let form_shown = last.status == reqwest::StatusCode::OK && is_kc_login(&last.body);
    let last = if form_shown {
        let action = form_action(&last.body, "kc-form-login").unwrap();
        let action = last.url.join(&action).unwrap();
        let r = b
            .post_form(
                action.as_str(),
                &[
                    ("username", user),
                    ("password", password),
                    ("credentialId", ""),
                ],
                &[],
            )
            .await;
        let loc = r.location();
        let mut hops = vec![r];
        if let Some(l) = loc {
            if !stop(&l) {
                hops.extend(b.follow(l.as_str(), stop).await);
            }
        }
        hops.pop().unwrap()
    } else {
        hops.into_iter().last().unwrap()
    };
    assert!(
        last.status.is_redirection() && last.location().is_some_and(|l| stop(&l)),
        "login at {} did not end at the app: {} {:?} {}",
        g.base(),
        last.status,
        last.location(),
        &last.body[..last.body.len().min(2000)]
    );
    form_shown
}

/// `GET /sso/session` at `g` with the browser's cookies: authenticated?
pub async fn signed_in(b: &Browser, g: &GatewayHandle) -> bool {
    let r = b
        .get_with(&g.url("/sso/session"), &[("Accept", "application/json")])
        .await;
    assert!(
        r.status.is_success(),
        "/sso/session: {} {}",
        r.status,
        r.body
    );
    r.json()["authenticated"] == Value::Bool(true)
}

/// The payload of a JWT, unverified (test inspection only).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
