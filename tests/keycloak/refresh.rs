//! Refresh on Keycloak with refresh-token rotation (revoke refresh token, max reuse 0):
//! 50 concurrent requests with an expired access token over two replicas make exactly one
//! refresh at Keycloak, and none of them fails.

use serde_json::json;
use sso_integration_tests::browser::Browser;
use sso_integration_tests::world::forward_auth_with_cookies;

use crate::{jwt_claims, kc_login, KcEnv};

#[tokio::test]
async fn fifty_concurrent_expired_requests_one_keycloak_refresh() {
    let env = KcEnv::start_with(
        "t-refresh",
        |rep| {
            rep["accessTokenLifespan"] = json!(3);
            rep["eventsEnabled"] = json!(true);
            rep["enabledEventTypes"] = json!(["REFRESH_TOKEN", "REFRESH_TOKEN_ERROR", "LOGIN"]);
        },
        |_| {},
    )
    .await;
    let realm = &env.realm;
    let r = realm.get("").await;
    assert_eq!(
        r["revokeRefreshToken"], true,
        "rotation from the shipped file"
    );
    assert_eq!(r["refreshTokenMaxReuse"], 0);
    let a2 = env.replica_of_a().await;
    let b = Browser::new();
    kc_login(&b, &env.a, "alice", "alice-password").await;
    let cookies = b.jar.cookies_for(&env.a.app_url());
    let exp = jwt_claims(&cookies["sso_at"])["exp"].as_i64().unwrap();
    // wait for the access token's expiry (the gateway checks `exp <= now`)
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let wait = (exp - now() + 1).max(0) as u64;
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert!(now() > exp);
    assert!(realm.events("REFRESH_TOKEN").await.is_empty());

    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let g = if i % 2 == 0 { &env.a } else { &a2 };
        tasks.push(forward_auth_with_cookies(g, &cookies));
    }
    let results = futures_util::future::join_all(tasks).await;
    let elapsed = t0.elapsed();
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let refreshes = realm.events("REFRESH_TOKEN").await;
    let errors = realm.events("REFRESH_TOKEN_ERROR").await;
    eprintln!(
        "50 concurrent expired requests over 2 replicas: {elapsed:?}, Keycloak refreshes {}, errors {}",
        refreshes.len(),
        errors.len()
    );
    assert_eq!(
        refreshes.len(),
        1,
        "exactly one refresh at Keycloak: {refreshes:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
    // every answer carries the same new token, signed by Keycloak
    let new_at: std::collections::HashSet<String> = results
        .iter()
        .filter_map(|r| r.set_cookie("sso_at"))
        .map(|c| {
            cookie::Cookie::parse(c.to_string())
                .unwrap()
                .value()
                .to_string()
        })
        .collect();
    assert_eq!(new_at.len(), 1, "one new access token for all 50");
}
