//! The Spring Boot resource server (`examples/spring-boot`) against Keycloak: a real login
//! through gateway A and Keycloak's form, then `/api/me` with the browser's `sso_at` cookie.

use serde_json::json;
use sso_integration_tests::browser::Browser;
use sso_integration_tests::keycloak::GW_A_SECRET;
use sso_integration_tests::spring::SpringApp;

use crate::{jwt_claims, kc_login, KcEnv};

#[tokio::test]
async fn spring_boot_resource_server_on_keycloak_tokens() {
    let env = KcEnv::start_with(
        "t-spring",
        |rep| {
            for c in rep["clients"].as_array_mut().unwrap() {
                if c["clientId"] == "gw-a" {
                    c["directAccessGrantsEnabled"] = json!(true);
                }
            }
        },
        |_| {},
    )
    .await;
    let issuer = env.realm.issuer();
    let app = tokio::task::spawn_blocking(move || {
        SpringApp::start(
            &issuer,
            &format!("{issuer}/protocol/openid-connect/certs"),
            &["gw-a", "gw-b"],
        )
    })
    .await
    .unwrap();
    let b = Browser::new();
    assert!(kc_login(&b, &env.a, "alice", "alice-password").await);
    let cookies = b.jar.cookies_for(&env.a.app_url());
    let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let me = format!("{}/api/me", app.url());

    let r = http
        .get(&me)
        .header("Cookie", header.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let sub = jwt_claims(&cookies["sso_at"])["sub"].clone();
    assert_eq!(body["sub"], sub, "{body}");
    assert_eq!(body["preferred_username"], "alice");
    assert_eq!(body["azp"], "gw-a");

    let r = http.get(&me).send().await.unwrap();
    assert_eq!(r.status(), 401, "no cookie");

    // Keycloak's ID token of gw-a: same issuer and keys, azp gw-a, but typ "ID"
    let grant = env
        .realm
        .password_grant("gw-a", Some(GW_A_SECRET), "alice", "alice-password")
        .await;
    let id = grant["id_token"].as_str().unwrap();
    let r = http.get(&me).bearer_auth(id).send().await.unwrap();
    assert_eq!(r.status(), 401, "an ID token is not an access token");
    let at = grant["access_token"].as_str().unwrap();
    let r = http.get(&me).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 200, "gw-a's access token as Bearer");
}
