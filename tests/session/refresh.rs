use std::sync::Arc;

use sso_integration_tests::world::login;
use sso_integration_tests::{Browser, OpOptions};

use crate::{auth, session_keys, wait_for_expiry};

#[tokio::test]
async fn fifty_concurrent_requests_on_two_replicas_make_one_refresh() {
    let w = sso_integration_tests::world::World::start(OpOptions {
        access_token_ttl: Some(2),
        refresh_delay_ms: Some(300),
        ..Default::default()
    });
    let replica = Arc::new(w.replica_of_a());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let cookie_header = {
        let j = b.jar.cookies_for(&w.a.app_url());
        format!("sso_at={}; sso_rt={}", j["sso_at"], j["sso_rt"])
    };
    wait_for_expiry(2).await;
    w.op.reset_stats().await;
    let urls = [w.a.url("/sso/auth"), replica.url("/sso/auth")];
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = urls[i % 2].clone();
        let cookie = cookie_header.clone();
        tasks.push(tokio::spawn(async move {
            let c = Browser::new();
            c.get_with(&url, &[("Cookie", &cookie)]).await
        }));
    }
    let mut ok = 0;
    let mut new_rt = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        ok += 1;
        new_rt.insert(
            r.set_cookie("sso_rt")
                .expect("new cookies")
                .split(';')
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ok, 50);
    assert_eq!(
        w.op.refresh_calls().await,
        1,
        "exactly one refresh reached the OP"
    );
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);
}

#[tokio::test]
async fn stale_refresh_handle_after_grace_window_ends_the_session() {
    let w = sso_integration_tests::world::World::start_with(
        OpOptions {
            access_token_ttl: Some(2),
            ..Default::default()
        },
        |o| o.extra.push_str("[session]\nrefresh_grace_secs = 1\n"),
    );
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let old = b.jar.cookies_for(&w.a.app_url())["sso_rt"].clone();
    wait_for_expiry(2).await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200);
    // inside the grace window the previous handle still works (a second tab)
    let tab = Browser::new();
    let r = tab
        .get_with(
            &w.a.url("/sso/auth"),
            &[("Cookie", &format!("sso_rt={old}"))],
        )
        .await;
    assert_eq!(r.status, 200, "grace window: {}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let thief = Browser::new();
    let r = thief
        .get_with(
            &w.a.url("/sso/auth"),
            &[("Cookie", &format!("sso_rt={old}"))],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.set_cookie("sso_rt").unwrap().contains("Max-Age=0"));
    assert!(
        session_keys(&w.redis.url()).await.is_empty(),
        "reuse ends the session"
    );
    // and the legitimate holder is signed out too
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn post_refresh_rotates_now() {
    let w = sso_integration_tests::world::World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    w.op.reset_stats().await;
    let r = b
        .post_form(
            &w.a.url("/sso/refresh"),
            &[],
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["preferred_username"], "alice");
    assert!(r.set_cookie("sso_at").is_some() && r.set_cookie("sso_rt").is_some());
    assert_eq!(w.op.refresh_calls().await, 1);
    // without a session
    let anon = Browser::new();
    let r = anon.post_form(&w.a.url("/sso/refresh"), &[], &[]).await;
    assert_eq!(r.status, 401);
    // cross-site POST is refused
    let r = b
        .post_form(
            &w.a.url("/sso/refresh"),
            &[],
            &[("Origin", "https://evil.com")],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn refresh_before_expiry_renews_a_token_about_to_expire() {
    let w = sso_integration_tests::world::World::start_with(
        OpOptions {
            access_token_ttl: Some(10),
            ..Default::default()
        },
        |o| {
            o.extra
                .push_str("[session]\nrefresh_before_expiry_secs = 8\n")
        },
    );
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    w.op.reset_stats().await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200);
    assert!(r.set_cookies().is_empty(), "fresh token served as is");
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.set_cookie("sso_at").is_some(),
        "renewed before it expired"
    );
    assert_eq!(w.op.refresh_calls().await, 1);
    let r = auth(&b, &w.a).await;
    assert!(
        r.set_cookies().is_empty(),
        "the renewed token is served as is"
    );
    assert_eq!(w.op.refresh_calls().await, 1);
}

/// `cmdstat_hget` calls so far on a redis-server.
async fn hget_calls(redis_url: &str) -> u64 {
    crate::command_stats(redis_url)
        .await
        .get("hget")
        .copied()
        .unwrap_or(0)
}

/// Issue 8 item 11: requests waiting for a concurrent refresh (on this replica or another)
/// are woken when it finishes instead of polling Redis every 40 ms.
#[tokio::test]
async fn refresh_waiters_are_notified_instead_of_polling() {
    let w = sso_integration_tests::world::World::start(OpOptions {
        access_token_ttl: Some(2),
        refresh_delay_ms: Some(2000),
        ..Default::default()
    });
    let replica = Arc::new(w.replica_of_a());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let cookie_header = {
        let j = b.jar.cookies_for(&w.a.app_url());
        format!("sso_at={}; sso_rt={}", j["sso_at"], j["sso_rt"])
    };
    wait_for_expiry(2).await;
    w.op.reset_stats().await;
    let before = hget_calls(&w.redis.url()).await;
    let t0 = std::time::Instant::now();
    let urls = [w.a.url("/sso/auth"), replica.url("/sso/auth")];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let url = urls[i % 2].clone();
        let cookie = cookie_header.clone();
        tasks.push(tokio::spawn(async move {
            Browser::new().get_with(&url, &[("Cookie", &cookie)]).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let took = t0.elapsed();
    let hgets = hget_calls(&w.redis.url()).await - before;
    eprintln!(
        "20 requests behind one 2 s refresh: {} ms, {hgets} HGET calls",
        took.as_millis()
    );
    assert_eq!(w.op.refresh_calls().await, 1);
    // polling every 40 ms would be about 19 waiters x 50 reads
    assert!(hgets < 200, "{hgets} session reads while waiting");
    // woken at once, not at the next fallback poll
    assert!(took < std::time::Duration::from_millis(2800), "{took:?}");
}
