//! The verified-token cache (`oidc.verified_token_cache_size`) never outlives a revocation:
//! a logged-out token is refused on the very next request although its signature check is
//! still cached. (Key removal evicting what a key verified: unit test in `sso-core`,
//! `oidc::tests::removed_key_evicts_what_it_verified`.)

use std::collections::HashMap;

use sso_integration_tests::world::{forward_auth_with_cookies, login, World};
use sso_integration_tests::Browser;

#[tokio::test]
async fn revoked_token_is_refused_although_its_verification_is_cached() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let at_only: HashMap<String, String> =
        sso_integration_tests::world::access_cookies_only(&b, &w.a);

    // Warm the cache: the second check is answered from it (no signature verification).
    assert_eq!(forward_auth_with_cookies(&w.a, &at_only).await.status, 200);
    let before = w.a.gw.oidc().verifier().verified_cache_stats();
    let r = forward_auth_with_cookies(&w.a, &at_only).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = w.a.gw.oidc().verifier().verified_cache_stats();
    assert_eq!(after.hits, before.hits + 1, "answered from the cache");
    assert_eq!(after.misses, before.misses, "no second verification");
    assert!(after.entries >= 1);

    // The OP logs alice out (back-channel to this gateway): the very next request with the
    // same, still cached and unexpired token is refused.
    let res = w.op.admin_logout("alice").await;
    sso_integration_tests::world::assert_backchannel_delivered(&res, &["gw-a"]);
    let r = forward_auth_with_cookies(&w.a, &at_only).await;
    assert_eq!(r.status, 401, "revoked token refused at once: {}", r.body);
    assert!(
        w.a.gw.oidc().verifier().verified_cache_stats().hits > after.hits,
        "the refusal came from the revocation check, not from a cache miss"
    );
}
