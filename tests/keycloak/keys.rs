//! Signing-key rotation through Keycloak's admin REST API: a new key is accepted without a
//! restart; once the old key is removed, tokens it signed are refused within the key set's
//! maximum age (`oidc.jwks_max_age_secs`).

use std::time::Instant;

use serde_json::json;
use sso_integration_tests::browser::Browser;
use sso_integration_tests::keycloak::GW_A_SECRET;

use crate::KcEnv;

async fn bearer_status(env: &KcEnv, token: &str) -> u16 {
    Browser::new()
        .get_with(
            &env.a.url("/sso/auth"),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
        .status
        .as_u16()
}

async fn jwks_kids(env: &KcEnv) -> Vec<String> {
    let v: serde_json::Value = env
        .realm
        .kc
        .http()
        .get(format!(
            "{}/protocol/openid-connect/certs",
            env.realm.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn signing_key_rotation_and_removal() {
    const MAX_AGE: u64 = 3;
    let env = KcEnv::start_with(
        "t-keys",
        |rep| {
            for c in rep["clients"].as_array_mut().unwrap() {
                if c["clientId"] == "gw-a" {
                    c["directAccessGrantsEnabled"] = json!(true);
                }
            }
        },
        |o| {
            o.oidc_extra
                .push_str(&format!("jwks_max_age_secs = {MAX_AGE}\n"))
        },
    )
    .await;
    let realm = &env.realm;
    let token = || async {
        realm
            .password_grant("gw-a", Some(GW_A_SECRET), "alice", "alice-password")
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = token().await;
    let old_kid = kid_of(&old);
    assert_eq!(bearer_status(&env, &old).await, 200);

    // a new RS256 key with a higher priority: Keycloak signs with it from now on
    realm.add_rsa_key("rotated", 500).await;
    let new = token().await;
    let new_kid = kid_of(&new);
    assert_ne!(
        new_kid, old_kid,
        "precondition: Keycloak signs with the new key"
    );
    assert_eq!(bearer_status(&env, &new).await, 200, "new key, no restart");
    assert_eq!(
        bearer_status(&env, &old).await,
        200,
        "old key still published"
    );

    // remove the old key (as after a compromise): Keycloak stops publishing it
    let comps = realm
        .get("/components?type=org.keycloak.keys.KeyProvider")
        .await;
    let old_provider = comps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["providerId"] == "rsa-generated" && c["name"] != "rotated")
        .unwrap_or_else(|| panic!("{comps}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    realm.delete_component(&old_provider).await;
    assert!(
        !jwks_kids(&env).await.contains(&old_kid),
        "precondition: old kid unpublished"
    );
    let t0 = Instant::now();
    let refused = sso_integration_tests::world::eventually(MAX_AGE * 4 + 5, || async {
        bearer_status(&env, &old).await == 401
    })
    .await;
    assert!(refused, "a token signed by a removed key is still accepted");
    eprintln!(
        "removed key refused after {:?} (jwks_max_age_secs = {MAX_AGE})",
        t0.elapsed()
    );
    assert_eq!(
        bearer_status(&env, &new).await,
        200,
        "the new key still verifies"
    );
}

/// The `kid` of a JWS's protected header.
fn kid_of(token: &str) -> String {
    use base64::Engine;
    let h = token.split('.').next().unwrap();
    let h: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap().to_string()
}
