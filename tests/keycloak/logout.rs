//! Logout on Keycloak: its own back-channel logout (admin REST), JSON logout ending the
//! Keycloak session server-side, and session expiry at Keycloak (no back-channel then).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sso_integration_tests::browser::Browser;
use sso_integration_tests::world::{
    eventually, forward_auth, forward_auth_with_cookies, urlencode, World, FED_KEY, FED_KID,
};

use crate::{kc_login, signed_in, KcEnv};

/// Logged in at A (password) and B (SSO, no password); the cookies of each domain.
async fn sign_in_both(
    env: &KcEnv,
    b: &Browser,
) -> (HashMap<String, String>, HashMap<String, String>) {
    assert!(
        kc_login(b, &env.a, "alice", "alice-password").await,
        "A asks for the password"
    );
    assert!(
        !kc_login(b, &env.b, "alice", "alice-password").await,
        "B does not"
    );
    assert_eq!(forward_auth(b, &env.a).await.status, 200);
    assert_eq!(forward_auth(b, &env.b).await.status, 200);
    (
        b.jar.cookies_for(&env.a.app_url()),
        b.jar.cookies_for(&env.b.app_url()),
    )
}

/// Both gateways refuse the cookies they issued (still unexpired tokens) within `secs`.
async fn both_refuse(env: &KcEnv, ca: &HashMap<String, String>, cb: &HashMap<String, String>) {
    for (g, c) in [(&env.a, ca), (&env.b, cb)] {
        // the access token alone (no refresh cookie to fall back on) and the whole jar
        let only_at: HashMap<String, String> = c
            .iter()
            .filter(|(k, _)| k.starts_with("sso_at"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(); // from the saved jar (the browser's own jar has changed since)
        assert!(
            eventually(10, || async {
                forward_auth_with_cookies(g, &only_at).await.status == 401
                    && forward_auth_with_cookies(g, c).await.status == 401
            })
            .await,
            "{} still accepts a logged-out session",
            g.base()
        );
    }
}

#[tokio::test]
async fn keycloak_admin_logs_user_out_by_back_channel() {
    let env = KcEnv::start("t-admin-logout").await;
    let b = Browser::new();
    let (ca, cb) = sign_in_both(&env, &b).await;
    assert_eq!(
        env.realm.sessions("alice").await.len(),
        1,
        "one SSO session"
    );
    let t0 = Instant::now();
    env.realm.logout_user("alice").await;
    both_refuse(&env, &ca, &cb).await;
    eprintln!("admin logout → both domains refuse: {:?}", t0.elapsed());
    assert!(env.realm.sessions("alice").await.is_empty());
    assert!(
        eventually(5, || async {
            sso_integration_tests::world::session_keys(&env.redis.url())
                .await
                .is_empty()
        })
        .await,
        "the gateways' sessions are gone"
    );
}

#[tokio::test]
async fn keycloak_admin_deletes_one_session() {
    let env = KcEnv::start("t-delete-session").await;
    let b = Browser::new();
    let (ca, cb) = sign_in_both(&env, &b).await;
    // another browser of alice: its session must survive
    let other = Browser::new();
    assert!(kc_login(&other, &env.a, "alice", "alice-password").await);
    let sessions = env.realm.sessions("alice").await;
    assert_eq!(sessions.len(), 2);
    // the SSO session of the first browser: the one both gw-a and gw-b are in
    let first = sessions
        .iter()
        .find(|s| s["clients"].as_object().is_some_and(|c| c.len() == 2))
        .unwrap_or_else(|| panic!("{sessions:?}"));
    env.realm
        .delete_session(first["id"].as_str().unwrap())
        .await;
    both_refuse(&env, &ca, &cb).await;
    assert_eq!(
        forward_auth(&other, &env.a).await.status,
        200,
        "the other session lives"
    );
}

/// `POST /sso/logout` with `Accept: application/json` (SPAs, WebViews) ends the Keycloak
/// session server-side: Keycloak's admin API lists no session, and B is back-channelled.
#[tokio::test]
async fn json_logout_ends_the_keycloak_session() {
    let env = KcEnv::start("t-json-logout").await;
    let b = Browser::new();
    let (_, cb) = sign_in_both(&env, &b).await;
    let r = b
        .post_form(
            &env.a.url("/sso/logout"),
            &[],
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["logged_out"], true, "{j}");
    assert_eq!(j["op_session_ended"], true, "{j}");
    assert!(
        env.realm.sessions("alice").await.is_empty(),
        "Keycloak session gone"
    );
    assert!(!signed_in(&b, &env.a).await);
    // Keycloak's back-channel reached B
    assert!(
        eventually(10, || async {
            forward_auth_with_cookies(&env.b, &cb).await.status == 401
        })
        .await
    );
    // the next login asks for the password
    assert!(kc_login(&b, &env.a, "alice", "alice-password").await);
}

/// Keycloak's SSO session reaches its maximum lifespan: Keycloak sends no back-channel
/// logout then. The gateway's next refresh fails and the user is signed out cleanly:
/// cookies cleared, no loop, and the next login asks for the password.
#[tokio::test]
async fn keycloak_session_expiry_signs_out_cleanly() {
    const MAX: u64 = 12;
    let env = KcEnv::start_with(
        "t-expiry",
        |rep| {
            rep["ssoSessionMaxLifespan"] = json!(MAX);
            rep["ssoSessionIdleTimeout"] = json!(MAX);
            rep["accessTokenLifespan"] = json!(4);
        },
        |_| {},
    )
    .await;
    let b = Browser::new();
    let t0 = Instant::now();
    assert!(kc_login(&b, &env.a, "alice", "alice-password").await);
    assert!(signed_in(&b, &env.a).await);
    // within the session's life: the expired access token is refreshed (Keycloak 200)
    assert!(
        eventually(20, || async {
            let before = b.jar.cookies_for(&env.a.app_url())["sso_at"].clone();
            let ok = forward_auth(&b, &env.a).await.status == 200;
            ok && b.jar.cookies_for(&env.a.app_url())["sso_at"] != before
        })
        .await,
        "a refresh happened while the Keycloak session lived"
    );
    // past the session's max lifespan (no back-channel is sent): wait for Keycloak's limit
    let deadline = t0 + Duration::from_secs(MAX + 2);
    tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    let r = b
        .get_with(
            &env.a.url("/sso/session"),
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["authenticated"], false, "{}", r.body);
    for name in ["sso_at", "sso_rt"] {
        let c = r
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared: {:?}", r.set_cookies()));
        let c = cookie::Cookie::parse(c).unwrap();
        assert_eq!(c.max_age(), Some(cookie::time::Duration::ZERO), "{c}");
    }
    assert!(
        b.jar.cookies_for(&env.a.app_url()).is_empty(),
        "jar: {:?}",
        b.jar.all()
    );
    // no loop: forward-auth says 401 with a login URL, and the login asks for the password
    let r = forward_auth(&b, &env.a).await;
    assert_eq!(r.status, 401);
    assert!(r.set_cookies().is_empty(), "nothing left to clear");
    assert!(
        kc_login(&b, &env.a, "alice", "alice-password").await,
        "password asked"
    );
    assert!(signed_in(&b, &env.a).await);
}

/// The clearing chain with the default `fanout.chain_binding = "sid"`: Keycloak gives every
/// client of one SSO session the same `sid`, so B's hop recognises the session A logs out
/// and ends it (before Keycloak's own back-channel could), and a session of another
/// Keycloak SSO session at B (another browser of alice) makes the link refused. A and B
/// have a Redis each (two root domains, two deployments), so only the hop can end B's.
#[tokio::test]
async fn clearing_chain_binds_by_keycloak_sid() {
    let redis_b = sso_integration_tests::procs::Redis::start();
    let url_b = redis_b.url();
    // no chain_binding line: the default (sid) is what is proven
    let env = KcEnv::start_with(
        "t-chain-sid",
        |_| {},
        |o| {
            let other = if o.domain == "a" { "b" } else { "a" };
            if o.domain == "b" {
                o.redis_url = Some(url_b.clone());
            }
            let url = format!("http://auth.{other}.localhost:{}", o.peer_port.unwrap());
            o.extra.push_str("[fanout]\n");
            o.extra
                .push_str(&World::extra_peer_toml(&url, &[(FED_KID, FED_KEY)]));
        },
    )
    .await;
    assert_eq!(
        env.a.gw.settings().fanout.chain_binding,
        sso_core::config::ChainBinding::Sid
    );
    let count =
        |url: String| async move { sso_integration_tests::world::session_keys(&url).await.len() };
    let (url_a, url_b) = (env.redis.url(), redis_b.url());
    let b = Browser::new();
    sign_in_both(&env, &b).await;
    assert_eq!(
        (count(url_a.clone()).await, count(url_b.clone()).await),
        (1, 1)
    );

    // a second browser holds B's cookies of another Keycloak SSO session of alice: A's
    // chain link must not end it
    let intruder = Browser::new();
    assert!(kc_login(&intruder, &env.b, "alice", "alice-password").await);
    assert_eq!(count(url_b.clone()).await, 2);
    let rd = env.a.app_url();
    let start = format!("{}?rd={}", env.a.url("/sso/logout"), urlencode(&rd));
    let r = b.get(&start).await;
    let hop = r.location().unwrap();
    assert_eq!(hop.host_str(), Some("auth.b.localhost"), "{hop}");
    assert_eq!(hop.path(), "/sso/logout/clear");
    assert_eq!(count(url_a.clone()).await, 0, "A ended its session");
    let refused = intruder.get(hop.as_str()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("another session"), "{}", refused.body);
    assert!(
        signed_in(&intruder, &env.b).await,
        "the other session lives"
    );

    // alice's own browser: B's hop ends B's session (same sid) and goes on to Keycloak
    let r = b.get(hop.as_str()).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let end = r.location().unwrap();
    assert!(
        end.as_str().starts_with(&env.realm.issuer()),
        "the chain ends at Keycloak: {end}"
    );
    assert_eq!(
        count(url_b.clone()).await,
        1,
        "B's session of this SSO session ended by the hop, before Keycloak knows; the other browser's remains"
    );
    assert_eq!(
        env.realm.sessions("alice").await.len(),
        2,
        "Keycloak not reached yet"
    );
    assert!(!signed_in(&b, &env.b).await);
    assert!(signed_in(&intruder, &env.b).await);
}
