//! Operators: list a user's sessions and end them all, on every replica and domain.

use sso_integration_tests::world::{login, World};
use sso_integration_tests::Browser;

use crate::{auth_with_cookies, eventually, session_keys};

pub(crate) const TOKEN: &str = "admin-token-admin-token-admin-token-0123";
use sso_integration_tests::world::ALICE_SUB as ALICE;

#[tokio::test]
async fn admin_api_lists_and_revokes_everywhere() {
    let w = World::start_split(Default::default(), |o| {
        let f = World::fanout_toml(o, true);
        o.extra.push_str(&f);
        o.extra.push_str(&format!("[admin]\ntoken = \"{TOKEN}\"\n"));
    });
    let replica = w.replica_of_a();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let other = Browser::new();
    login(&other, &w.a, "alice", "alice-password").await;
    let a_cookies = b.jar.cookies_for(&w.a.app_url());
    let b_cookies = b.jar.cookies_for(&w.b.app_url());
    let api = Browser::new();
    let list_url = format!("{}?sub={ALICE}", w.a.url("/sso/admin/sessions"));

    assert_eq!(api.get(&list_url).await.status, 401, "no token");
    assert_eq!(
        api.get_with(&list_url, &[("Authorization", "Bearer wrong")])
            .await
            .status,
        401
    );
    let auth = format!("Bearer {TOKEN}");
    let r = api
        .get_with(
            &list_url,
            &[("Authorization", &auth), ("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["sessions"].as_array().unwrap().len(), 2, "{j}");
    assert_eq!(j["sessions"][0]["preferred_username"], "alice");
    assert!(!r.body.contains(&a_cookies["sso_at"][..40]), "never tokens");

    let r = api
        .post_form(
            &w.a.url("/sso/admin/sessions/revoke"),
            &[("sub", ALICE)],
            &[("Authorization", &auth), ("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ended"], 2);
    assert!(session_keys(&w.redis.url()).await.is_empty());
    // every replica refuses the still-valid access token
    let at_only: std::collections::HashMap<String, String> = a_cookies
        .iter()
        .filter(|(k, _)| k.starts_with("sso_at"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        eventually(3, || async {
            auth_with_cookies(&replica, &at_only).await.status == 401
        })
        .await
    );
    // and the peer domain ends its sessions too (federation-signed, through the fan-out queue)
    let redis_b = w.redis_b.as_ref().unwrap().url();
    assert!(eventually(10, || async { session_keys(&redis_b).await.is_empty() }).await);
    assert_eq!(auth_with_cookies(&w.b, &b_cookies).await.status, 401);
}

#[tokio::test]
async fn admin_api_is_off_without_a_token_and_federation_needs_the_key() {
    let w = World::start(Default::default());
    let r = Browser::new()
        .get(&format!("{}?sub=x", w.a.url("/sso/admin/sessions")))
        .await;
    assert_eq!(r.status, 404);
    let r = Browser::new()
        .post_form(
            &w.a.url("/sso/federation/revoke"),
            &[
                ("sub", ALICE),
                ("received_at", "1"),
                ("federation_kid", "ab-1"),
                ("federation_mac", "AAAA"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
