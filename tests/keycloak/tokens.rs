//! Keycloak's token shapes at `/sso/auth`: payload `typ`, audience resolution, `nonce` in
//! access tokens, `email_verified`.

use serde_json::{json, Value};
use sso_integration_tests::browser::Browser;
use sso_integration_tests::keycloak::GW_A_SECRET;
use sso_integration_tests::world::{bind, GatewayHandle};

use crate::{jwt_claims, kc_login, KcEnv};

async fn bearer_auth(g: &GatewayHandle, token: &str) -> sso_integration_tests::browser::Resp {
    Browser::new()
        .get_with(
            &g.url("/sso/auth"),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
}

/// A realm where alice holds a role of gw-a, `other-app` (public) can issue tokens to her,
/// gw-a allows the password grant (to get its ID and refresh tokens directly), and bob's
/// email is not verified.
fn token_realm(rep: &mut Value) {
    rep["roles"]["client"] = json!({"gw-a": [{"name": "reader"}]});
    // role names a header cannot carry as they are
    for r in ["ünïcode", "with,comma"] {
        rep["roles"]["realm"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": r}));
    }
    for u in rep["users"].as_array_mut().unwrap() {
        if u["username"] == "alice" {
            u["clientRoles"] = json!({"gw-a": ["reader"]});
            u["realmRoles"]
                .as_array_mut()
                .unwrap()
                .extend([json!("ünïcode"), json!("with,comma")]);
        }
        if u["username"] == "bob" {
            u["emailVerified"] = json!(false);
        }
    }
    for c in rep["clients"].as_array_mut().unwrap() {
        if c["clientId"] == "gw-a" {
            c["directAccessGrantsEnabled"] = json!(true);
        }
    }
    rep["clients"].as_array_mut().unwrap().push(json!({
        "clientId": "other-app",
        "publicClient": true,
        "standardFlowEnabled": false,
        "directAccessGrantsEnabled": true,
        "fullScopeAllowed": true
    }));
}

#[tokio::test]
async fn keycloak_token_shapes_at_forward_auth() {
    let env = KcEnv::start_with("t-tokens", token_realm, |_| {}).await;
    let realm = &env.realm;

    // gw-a's own access token: accepted
    let own = realm
        .password_grant("gw-a", Some(GW_A_SECRET), "alice", "alice-password")
        .await;
    let at = own["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["typ"], "Bearer");
    let r = bearer_auth(&env.a, at).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sub = jwt_claims(at)["sub"].as_str().unwrap().to_string();
    assert_eq!(r.headers["x-auth-request-sub"], sub.as_str());
    assert_eq!(r.headers["x-auth-request-user"], "alice");
    assert_eq!(
        r.headers["x-auth-request-email"], "alice@example.com",
        "email_verified: true"
    );
    // non-ASCII and `,` in group names: percent-encoded, never dropped
    let groups: Vec<String> = r.headers["x-auth-request-groups"]
        .to_str()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    for want in ["%C3%BCn%C3%AFcode", "with%2Ccomma", "user", "gw-a:reader"] {
        assert!(groups.iter().any(|g| g == want), "{want} in {groups:?}");
    }

    // Keycloak's ID and refresh tokens are not access tokens (payload typ ID / Refresh)
    let id = own["id_token"].as_str().unwrap();
    assert_eq!(jwt_claims(id)["typ"], "ID");
    assert_eq!(
        jwt_claims(id)["azp"],
        "gw-a",
        "same client, same issuer, valid signature"
    );
    assert_eq!(
        bearer_auth(&env.a, id).await.status,
        401,
        "ID token as Bearer"
    );
    let rt = own["refresh_token"].as_str().unwrap();
    assert_eq!(jwt_claims(rt)["typ"], "Refresh");
    assert_eq!(
        bearer_auth(&env.a, rt).await.status,
        401,
        "refresh token as Bearer"
    );

    // other-app's token names gw-a in aud (audience resolution: alice holds gw-a:reader)
    let other = realm
        .password_grant("other-app", None, "alice", "alice-password")
        .await;
    let ot = other["access_token"].as_str().unwrap();
    let oc = jwt_claims(ot);
    assert_eq!(oc["azp"], "other-app");
    let aud: Vec<&str> = match &oc["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    assert!(aud.contains(&"gw-a"), "precondition: gw-a in aud: {oc}");
    let r = bearer_auth(&env.a, ot).await;
    assert_eq!(
        r.status, 401,
        "a token issued to another client: {}",
        r.body
    );

    // ... unless the operator opts in to accepting by audience alone
    let mut o = env.a_opts.clone();
    o.extra
        .push_str("[forward_auth]\naccept_audience_only = true\n");
    let lenient = tokio::task::spawn_blocking(move || GatewayHandle::start(bind().0, &o))
        .await
        .unwrap();
    assert_eq!(bearer_auth(&lenient, ot).await.status, 200, "opt-in");

    // bob's email is not verified: no X-Auth-Request-Email, or 403 with "deny"
    let bob = realm
        .password_grant("gw-a", Some(GW_A_SECRET), "bob", "bob-password")
        .await;
    let bt = bob["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(bt)["email_verified"], false, "precondition");
    assert_eq!(jwt_claims(bt)["email"], "bob@example.com", "precondition");
    let r = bearer_auth(&env.a, bt).await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers.get("x-auth-request-email").is_none(),
        "unverified email sent: {:?}",
        r.headers
    );
    assert_eq!(r.headers["x-auth-request-user"], "bob");
    let mut o = env.a_opts.clone();
    o.extra
        .push_str("[forward_auth]\nunverified_email = \"deny\"\n");
    let strict = tokio::task::spawn_blocking(move || GatewayHandle::start(bind().0, &o))
        .await
        .unwrap();
    let r = bearer_auth(&strict, bt).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "email_not_verified");
    assert_eq!(
        bearer_auth(&strict, at).await.status,
        200,
        "alice is verified"
    );
}

/// Keycloak 25+ with the "Nonce backwards compatible" mapper puts the login's `nonce` into
/// access tokens: login and forward-auth still work.
#[tokio::test]
async fn nonce_in_access_tokens_with_the_backwards_compatible_mapper() {
    let env = KcEnv::start_with(
        "t-nonce",
        |rep| {
            for c in rep["clients"].as_array_mut().unwrap() {
                c["protocolMappers"] = json!([{
                    "name": "nonce backwards compatible",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-nonce-backwards-compatible-mapper",
                    "consentRequired": false,
                    "config": {}
                }]);
            }
        },
        |_| {},
    )
    .await;
    let b = Browser::new();
    assert!(kc_login(&b, &env.a, "alice", "alice-password").await);
    let at = b.jar.cookies_for(&env.a.app_url())["sso_at"].clone();
    let c = jwt_claims(&at);
    assert!(
        c["nonce"].is_string(),
        "precondition: nonce in the access token: {c}"
    );
    assert_eq!(c["typ"], "Bearer");
    let r = sso_integration_tests::world::forward_auth(&b, &env.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(crate::signed_in(&b, &env.a).await);
    // SSO at B, same mapper
    assert!(
        !kc_login(&b, &env.b, "alice", "alice-password").await,
        "no password at B"
    );
    assert!(crate::signed_in(&b, &env.b).await);
}
