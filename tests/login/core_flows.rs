//! The core flows in process, without HTTP on the gateway side, Redis or Node: `sso_core::Gateway`
//! on the memory store in front of the in-process hostile OP (valid tokens). Login, forward-auth
//! on the hot path, a forced refresh, logout; fast enough for `make check`.

use std::collections::HashMap;

use cookie::Cookie;
use sso_core::api::{AuthOutcome, Presented};
use sso_core::config::Settings;
use sso_core::login::CallbackParams;
use sso_core::logout::LogoutStart;
use sso_core::store::memory::MemoryStore;
use sso_core::Gateway;
use sso_integration_tests::hostile_op::HostileOp;
use sso_integration_tests::world::GatewayOptions;

const RD: &str = "http://app1.a.localhost:9/page";

fn gateway(op: &HostileOp) -> std::sync::Arc<Gateway> {
    let toml = GatewayOptions::new("a", &op.issuer(), None).toml(9);
    let settings = Settings::from_toml(&toml).unwrap();
    Gateway::with_store(settings, std::sync::Arc::new(MemoryStore::new())).unwrap()
}

/// The cookies a browser holds after `set` (a cleared cookie is dropped).
fn jar(jar: &mut HashMap<String, String>, set: &[Cookie<'static>]) {
    for c in set {
        if c.value().is_empty() {
            jar.remove(c.name());
        } else {
            jar.insert(c.name().to_string(), c.value().to_string());
        }
    }
}

fn presented(gw: &Gateway, jar: &HashMap<String, String>) -> Presented {
    gw.presented(|n| jar.get(n).cloned(), None)
}

/// The hostile OP signs in without a form: its authorization endpoint redirects to the
/// callback with a code at once.
async fn authorize(location: &str) -> CallbackParams {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(location).send().await.unwrap();
    assert_eq!(r.status(), 302, "{location}");
    let back = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = back.query_pairs().into_owned().collect();
    CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        iss: q.get("iss").cloned(),
        error: None,
        error_description: None,
    }
}

#[tokio::test]
async fn login_forward_auth_refresh_logout_in_process() {
    let op = HostileOp::start("gw-a");
    let gw = gateway(&op);
    let mut cookies = HashMap::new();

    // login: start, the OP's answer, the callback
    let q = HashMap::from([("rd".to_string(), RD.to_string())]);
    let start = gw.start_login(&q, None).await.unwrap();
    jar(&mut cookies, &start.cookies);
    let params = authorize(&start.location).await;
    let done = gw
        .finish_login(
            &params,
            cookies.get("sso_login").map(String::as_str),
            &presented(&gw, &cookies),
        )
        .await
        .unwrap();
    assert_eq!(done.location, RD);
    jar(&mut cookies, &done.cookies);
    assert!(cookies.contains_key("sso_at") && cookies.contains_key("sso_rt"));
    assert!(
        !cookies.contains_key("sso_login"),
        "the login cookie is cleared"
    );
    assert_eq!(op.token_calls(), 1);

    // forward-auth: the hot path, no refresh, the identity for the upstream
    let p = presented(&gw, &cookies);
    let AuthOutcome::Allowed(a) = gw.authenticate(&p, false).await.unwrap() else {
        panic!("a fresh session is refused");
    };
    assert!(a.set_cookies.is_empty(), "the hot path sets no cookie");
    let headers = gw.upstream_headers(&a, |h| h).unwrap();
    let sub = headers
        .iter()
        .find(|(k, _)| *k == "x-auth-request-sub")
        .map(|(_, v)| v.clone());
    assert_eq!(sub.as_deref(), Some(&b"evil-user"[..]));
    assert_eq!(op.token_calls(), 1);

    // refresh (POST /sso/refresh): one call at the OP, a rotated sso_rt
    let AuthOutcome::Allowed(r) = gw.authenticate(&p, true).await.unwrap() else {
        panic!("the refresh is refused");
    };
    assert_eq!(op.token_calls(), 2);
    let old_rt = cookies["sso_rt"].clone();
    jar(&mut cookies, &r.set_cookies);
    assert_ne!(cookies["sso_rt"], old_rt, "sso_rt rotates");
    let id = gw
        .store()
        .lookup(sso_core::store::Index::Sub, &op.issuer(), "evil-user")
        .await
        .unwrap();
    assert_eq!(id.len(), 1);
    let rec = gw.store().get_session(&id[0]).await.unwrap().unwrap();
    assert_eq!(rec.generation, 1, "refresh generation 1");

    // logout: the session ends, the cookies clear, the access token is refused
    let before_logout = cookies.clone();
    let out = gw
        .start_logout(&presented(&gw, &cookies), Some(RD), false)
        .await
        .unwrap();
    let LogoutStart::Redirect(out) = out else {
        panic!("the OP is reachable");
    };
    assert!(
        out.location
            .starts_with(&format!("{}/protocol/openid-connect/logout", op.issuer())),
        "{}",
        out.location
    );
    jar(&mut cookies, &out.cookies);
    assert!(!cookies.contains_key("sso_at") && !cookies.contains_key("sso_rt"));
    assert!(gw.store().get_session(&id[0]).await.unwrap().is_none());
    let AuthOutcome::Denied(_) = gw
        .authenticate(&presented(&gw, &before_logout), false)
        .await
        .unwrap()
    else {
        panic!("the logged-out access token is still accepted");
    };
}
