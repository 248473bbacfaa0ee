use sso_integration_tests::world::login;
use sso_integration_tests::Browser;

use crate::{auth, header, session_keys, short_lived, wait_for_expiry};

#[tokio::test]
async fn anonymous_gets_401_with_login_url_for_allowed_hosts_only() {
    let w = short_lived(300);
    let b = Browser::new();
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 401);
    let login = header(&r, "x-auth-request-redirect").unwrap();
    assert!(login.starts_with(&w.a.url("/sso/login?rd=")), "{login}");
    assert!(login.contains("app1.a.localhost"));
    assert!(r.set_cookies().is_empty(), "nothing to clear");
    // the original URL goes through the same redirect checks
    let r = b
        .get_with(
            &w.a.url("/sso/auth"),
            &[("X-Original-URL", "https://evil.com/")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(header(&r, "x-auth-request-redirect").is_none());
    // Traefik style headers, redirect mode
    let r = b
        .get_with(
            &w.a.url("/sso/auth?redirect=1"),
            &[
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "app1.a.localhost:9"),
                ("X-Forwarded-Uri", "/x?y=1"),
            ],
        )
        .await;
    assert_eq!(r.status, 302);
    assert!(r
        .location()
        .unwrap()
        .as_str()
        .contains("rd=http%3A%2F%2Fapp1.a.localhost%3A9%2Fx%3Fy%3D1"));
}

#[tokio::test]
async fn signed_in_gets_identity_headers_without_store_round_trip() {
    let w = short_lived(300);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(header(&r, "x-auth-request-user").unwrap(), "alice");
    assert_eq!(
        header(&r, "x-auth-request-email").unwrap(),
        "alice@example.com"
    );
    assert_eq!(
        header(&r, "x-auth-request-sub").unwrap(),
        "1b8f0e3c-0000-4000-8000-00000000a11c"
    );
    let groups = header(&r, "x-auth-request-groups").unwrap();
    assert!(
        groups.split(',').any(|g| g == "admin") && groups.contains("gw-a:client-user"),
        "{groups}"
    );
    let at = b.jar.cookies_for(&w.a.app_url())["sso_at"].clone();
    assert_eq!(header(&r, "authorization").unwrap(), format!("Bearer {at}"));
    assert!(r.set_cookies().is_empty(), "no new cookies on the hot path");

    // Hot path needs no Redis: stop Redis, the check still passes.
    drop(w.redis);
    let r = auth(&b, &w.a).await;
    assert_eq!(
        r.status, 200,
        "valid token verified without the store: {}",
        r.body
    );
}

/// The identity headers are built once per verified token and kept with its cached claims
/// (issue 9): two users served in turn each get their own, every time.
#[tokio::test]
async fn cached_identity_headers_belong_to_their_token() {
    let w = short_lived(300);
    let (alice, bob) = (Browser::new(), Browser::new());
    login(&alice, &w.a, "alice", "alice-password").await;
    login(&bob, &w.a, "bob", "bob-password").await;
    for _ in 0..3 {
        for (b, user) in [(&alice, "alice"), (&bob, "bob")] {
            let r = auth(b, &w.a).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(header(&r, "x-auth-request-user").unwrap(), user);
            let at = b.jar.cookies_for(&w.a.app_url())["sso_at"].clone();
            assert_eq!(header(&r, "authorization").unwrap(), format!("Bearer {at}"));
        }
    }
    let stats = w.a.gw.oidc().verifier().verified_cache_stats();
    assert!(
        stats.hits >= 4,
        "served from the verified-token cache: {stats:?}"
    );
}

#[tokio::test]
async fn bearer_tokens_from_non_browser_clients() {
    let w = short_lived(300);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let at = b.jar.cookies_for(&w.a.app_url())["sso_at"].clone();
    let api = Browser::new();
    let r = api
        .get_with(
            &w.a.url("/sso/auth"),
            &[("Authorization", &format!("Bearer {at}"))],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "x-auth-request-user").unwrap(), "alice");
    // a valid bearer token wins over stale cookies (like resource servers decide)
    let r = api
        .get_with(
            &w.a.url("/sso/auth"),
            &[
                ("Authorization", &format!("Bearer {at}")),
                ("Cookie", "sso_at=stale; sso_rt=stale"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.set_cookies().is_empty(),
        "bearer requests never touch cookies"
    );
    // flip a character in the middle of the signature (the last one may only hold padding bits)
    let sig_start = at.rfind('.').unwrap() + 1;
    let i = sig_start + (at.len() - sig_start) / 2;
    let flipped = if &at[i..i + 1] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &at[..i], &at[i + 1..]);
    let r = api
        .get_with(
            &w.a.url("/sso/auth"),
            &[("Authorization", &format!("Bearer {forged}"))],
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn garbage_cookies_get_401_and_are_cleared() {
    let w = short_lived(300);
    let b = Browser::new();
    let url = url::Url::parse(&w.a.url("/")).unwrap();
    b.jar
        .store(&url, "sso_at=not.a.jwt; Domain=a.localhost; Path=/");
    b.jar
        .store(&url, "sso_rt=garbage; Domain=a.localhost; Path=/");
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 401);
    for name in ["sso_at", "sso_rt"] {
        let c = r
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared"));
        assert!(
            c.contains("Max-Age=0") && c.contains("Domain=a.localhost") && c.contains("Path=/"),
            "{c}"
        );
    }
    assert!(
        header(&r, "x-auth-request-set-cookie-0").is_some(),
        "numbered copies for nginx"
    );
    assert!(b.jar.cookies_for(&w.a.app_url()).is_empty());
}

#[tokio::test]
async fn expired_access_token_is_refreshed_transparently() {
    let w = short_lived(2);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let old_at = b.jar.cookies_for(&w.a.app_url())["sso_at"].clone();
    let old_rt = b.jar.cookies_for(&w.a.app_url())["sso_rt"].clone();
    wait_for_expiry(2).await;
    w.op.reset_stats().await;
    // the browser may still send the expired sso_at (we keep it in the test jar)
    let url = url::Url::parse(&w.a.url("/")).unwrap();
    b.jar.store(
        &url,
        &format!("sso_at={old_at}; Domain=a.localhost; Path=/"),
    );
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(w.op.refresh_calls().await, 1);
    let new_at = r.set_cookie("sso_at").unwrap();
    assert!(!new_at.contains(&old_at));
    assert!(r.set_cookie("sso_rt").is_some());
    assert!(header(&r, "x-auth-request-set-cookie-0").is_some());
    let jar = b.jar.cookies_for(&w.a.app_url());
    assert_ne!(jar["sso_rt"], old_rt, "rotated handle");
    // next request is on the hot path again
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200);
    assert!(r.set_cookies().is_empty());
    assert_eq!(w.op.refresh_calls().await, 1);
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);
}

#[tokio::test]
async fn op_ending_the_session_ends_it_here_and_op_down_keeps_it() {
    let mut w = short_lived(2);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    wait_for_expiry(2).await;

    // OP unreachable during refresh → 503, session kept
    let alice2 = Browser::new();
    login(&alice2, &w.b, "alice", "alice-password").await; // another session to kill later
    w.op.stop();
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.set_cookie("sso_rt").is_none(), "cookies kept");
    assert_eq!(session_keys(&w.redis.url()).await.len(), 2);
}

#[tokio::test]
async fn invalid_grant_ends_the_session() {
    let w = short_lived(2);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);
    // The grant dies at the OP without a back-channel logout (RFC 7009 revocation of the
    // refresh token): the gateway learns it only from its next refresh, as `invalid_grant`.
    let rec = sso_integration_tests::world::sessions_of(
        &w.a,
        &w.op.issuer,
        sso_integration_tests::world::ALICE_SUB,
    )
    .await
    .remove(0);
    let revoked = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/revoke", w.op.issuer))
        .basic_auth("gw-a", Some("gw-a-secret"))
        .form(&[
            ("token", rec.refresh_token.unwrap().secret()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(
        session_keys(&w.redis.url()).await.len(),
        1,
        "no back-channel"
    );
    wait_for_expiry(2).await;
    w.op.reset_stats().await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(w.op.refresh_calls().await, 1, "the refresh reached the OP");
    assert!(r.set_cookie("sso_rt").unwrap().contains("Max-Age=0"));
    assert!(r.set_cookie("sso_at").unwrap().contains("Max-Age=0"));
    assert!(
        session_keys(&w.redis.url()).await.is_empty(),
        "Redis state deleted"
    );
    // no retry loop: the browser holds no cookie, the next check is a plain 401
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 401);
    assert_eq!(w.op.refresh_calls().await, 1);
}

/// Redis commands executed so far, the `INFO`s that count them left out.
async fn redis_commands(url: &str) -> u64 {
    crate::command_stats(url)
        .await
        .iter()
        .filter(|(cmd, _)| cmd.as_str() != "info")
        .map(|(_, calls)| calls)
        .sum()
}

/// The hot path needs no Redis: a burst of 300 checks with a valid session moves Redis's
/// command counters by (almost) nothing. Background liveness (the revocation channel's
/// heartbeat and resync) may add a handful; a lookup per check would add hundreds.
#[tokio::test]
async fn forward_auth_hot_path_makes_no_redis_round_trip() {
    let w = sso_integration_tests::world::World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    assert_eq!(auth(&b, &w.a).await.status, 200, "warm caches");
    let before = redis_commands(&w.redis.url()).await;
    for _ in 0..300 {
        assert_eq!(auth(&b, &w.a).await.status, 200);
    }
    let delta = redis_commands(&w.redis.url()).await - before;
    assert!(
        delta < 10,
        "{delta} Redis commands for 300 forward-auth checks"
    );
}

/// Another application on the same domain sets a cookie that is not well formed (a pair
/// without `=`, a value that is not UTF-8 once percent-decoded, an open quote): the
/// gateway's own cookie parser (`RequestCookies`) skips it and still reads the `sso_*`
/// cookies, instead of seeing none and signing the user out.
#[tokio::test]
async fn a_malformed_foreign_cookie_does_not_sign_the_user_out() {
    let w = short_lived(300);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let jar = b.jar.cookies_for(&w.a.app_url());
    let ours: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for foreign in ["tracking", "x=%ff%fe", "=", "a=\"b"] {
        let header = format!("{foreign}; {}; other=1", ours.join("; "));
        let r = Browser::new()
            .get_with(&w.a.url("/sso/auth"), &[("Cookie", &header)])
            .await;
        assert_eq!(r.status, 200, "with {foreign:?}: {}", r.body);
    }
}
