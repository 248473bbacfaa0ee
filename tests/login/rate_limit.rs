//! Per-client-address rate limits: 429 with `Retry-After` once a client's budget is spent,
//! per route class, with forwarded addresses believed only from trusted proxies.

use sso_integration_tests::browser::Browser;
use sso_integration_tests::world::{urlencode, World};

fn limited_world(trusted: &str) -> World {
    let trusted = trusted.to_string();
    World::start_with(Default::default(), move |o| {
        o.extra.push_str(&format!(
            "[rate_limit]\nlogin_per_minute = 60\nlogin_burst = 3\nadmin_per_minute = 60\nadmin_burst = 2\n\
             backchannel_per_minute = 60\nbackchannel_burst = 2\nclear_per_minute = 60\nclear_burst = 2\n\
             trusted_proxies = [{trusted}]\n[admin]\ntoken = \"admin-token-admin-token-admin-token\"\n"
        ))
    })
}

async fn login_status(w: &World, xff: Option<&str>) -> sso_integration_tests::browser::Resp {
    let url = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&w.a.app_url()));
    let headers: Vec<(&str, &str)> = xff.map(|x| ("X-Forwarded-For", x)).into_iter().collect();
    Browser::new().get_with(&url, &headers).await
}

#[tokio::test]
async fn login_is_rate_limited_per_client_address() {
    let w = limited_world("");
    for _ in 0..3 {
        assert_eq!(login_status(&w, None).await.status, 302);
    }
    let r = login_status(&w, None).await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let j = r.json();
    assert_eq!(j["error"], "rate_limited");
    // an X-Forwarded-For from an untrusted peer changes nothing
    assert_eq!(
        login_status(&w, Some("198.51.100.1")).await.status,
        429,
        "a client cannot pick its own address"
    );
    // the callback shares the login budget
    let b = Browser::new();
    let r = b.get(&w.a.url("/sso/callback?code=x&state=y")).await;
    assert_eq!(r.status, 429);
    // the hot path and the session API are never limited
    for _ in 0..20 {
        assert_eq!(b.get(&w.a.url("/sso/auth")).await.status, 401);
    }
    // another class has its own budget: admin (2), then 429
    let admin = |n: usize| {
        let b = b.clone();
        let url = w.a.url("/sso/admin/sessions?sub=nobody");
        async move {
            let mut last = 0;
            for _ in 0..n {
                last = b
                    .get_with(
                        &url,
                        &[(
                            "Authorization",
                            "Bearer admin-token-admin-token-admin-token",
                        )],
                    )
                    .await
                    .status
                    .as_u16();
            }
            last
        }
    };
    assert_eq!(admin(2).await, 200);
    assert_eq!(admin(1).await, 429);
    // back-channel logout: garbage tokens are 400 until the budget is spent
    for _ in 0..2 {
        let r = b
            .post_form(
                &w.a.url("/sso/backchannel-logout"),
                &[("logout_token", "x")],
                &[],
            )
            .await;
        assert_eq!(r.status, 400);
    }
    let r = b
        .post_form(
            &w.a.url("/sso/backchannel-logout"),
            &[("logout_token", "x")],
            &[],
        )
        .await;
    assert_eq!(r.status, 429);
    let m = b.get(&w.a.url("/metrics")).await.body;
    assert!(m.contains("sso_rate_limited_total "), "{m}");
    assert!(!m.contains("sso_rate_limited_total 0\n"), "{m}");
}

/// Behind a trusted proxy, each forwarded client has its own budget, and what a client
/// prepends to `X-Forwarded-For` is ignored.
#[tokio::test]
async fn forwarded_clients_behind_a_trusted_proxy() {
    let w = limited_world("\"127.0.0.0/8\"");
    for _ in 0..3 {
        assert_eq!(login_status(&w, Some("198.51.100.1")).await.status, 302);
    }
    assert_eq!(login_status(&w, Some("198.51.100.1")).await.status, 429);
    // a spoofed entry before the real one: still 198.51.100.1's budget
    assert_eq!(
        login_status(&w, Some("203.0.113.50, 198.51.100.1"))
            .await
            .status,
        429
    );
    // another client behind the same proxy
    assert_eq!(login_status(&w, Some("198.51.100.2")).await.status, 302);
}
