//! The rig itself: Keycloak started once, the shipped realm imported as written.

use sso_integration_tests::keycloak::{Keycloak, Realm, GW_A_SECRET};

/// `--import-realm` read `deploy/keycloak/realm-demo.json` with its placeholders resolved
/// from the environment, and the realm is set up the way sso-gateway needs it.
#[tokio::test]
async fn shipped_realm_is_imported_as_written() {
    let kc = Keycloak::shared();
    eprintln!("keycloak {} start: {:.1} s", kc.version, kc.start_secs);
    let realm = Realm::imported();
    let r = realm.get("").await;
    assert_eq!(r["enabled"], true);
    // refresh-token rotation with reuse detection: what the refresh lease is built for
    assert_eq!(r["revokeRefreshToken"], true, "{r}");
    assert_eq!(r["refreshTokenMaxReuse"], 0);
    for (client, port) in [("gw-a", 1), ("gw-b", 2)] {
        let c = realm.client(client).await;
        assert_eq!(c["publicClient"], false, "{client} is confidential");
        assert_eq!(
            c["frontchannelLogout"], false,
            "{client}: front-channel logout off"
        );
        let attr = &c["attributes"];
        assert_eq!(
            attr["backchannel.logout.url"],
            format!("http://127.0.0.1:{port}/sso/backchannel-logout"),
            "{client}: back-channel URL from GW_*_BACKCHANNEL_URL"
        );
        assert_eq!(attr["backchannel.logout.session.required"], "true");
        assert_eq!(attr["pkce.code.challenge.method"], "S256");
        let d = if client == "gw-a" { "a" } else { "b" };
        let redirects: Vec<&str> = c["redirectUris"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            redirects.contains(&format!("http://auth.{d}.localhost:{port}/sso/callback").as_str()),
            "{client}: {redirects:?}"
        );
    }
    assert_eq!(realm.client("gw-a").await["secret"], GW_A_SECRET);
    // discovery: what the gateway reads
    let d: serde_json::Value = kc
        .http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            realm.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], realm.issuer());
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert!(d["end_session_endpoint"].is_string());
    assert!(d["code_challenge_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "S256"));
    // the users of the demo
    for u in ["alice", "bob"] {
        realm.user_id(u).await;
    }
}

/// Defaults of the shipped file (`${NAME:default}`) are the docker-compose deployment's.
#[test]
fn placeholder_defaults_are_the_compose_deployment() {
    let text = std::fs::read_to_string(sso_integration_tests::keycloak::realm_file()).unwrap();
    let resolved = sso_integration_tests::keycloak::resolve_placeholders(
        &text,
        &[
            ("GW_A_CLIENT_SECRET", "x".into()),
            ("GW_B_CLIENT_SECRET", "y".into()),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&resolved).unwrap();
    let a = &v["clients"][0];
    assert_eq!(
        a["attributes"]["backchannel.logout.url"],
        "http://gw-a:8080/sso/backchannel-logout"
    );
    assert_eq!(a["redirectUris"][0], "http://auth.a.localhost/sso/callback");
}
