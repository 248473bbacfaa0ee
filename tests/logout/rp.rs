//! RP-initiated logout through the real OP: cookies, end-session, back-channel to B.

use sso_integration_tests::world::{login, submit_op_logout, urlencode, World};
use sso_integration_tests::Browser;

use crate::{auth, eventually, session_keys};

#[tokio::test]
async fn logout_at_a_ends_a_and_b_and_returns_to_rd() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    assert_eq!(session_keys(&w.redis.url()).await.len(), 2);
    let a_cookies = b.jar.cookies_for(&w.a.app_url());

    let rd = w.a.app_url();
    let r = b
        .get(&format!("{}?rd={}", w.a.url("/sso/logout"), urlencode(&rd)))
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    for name in ["sso_at", "sso_rt"] {
        let c = r.set_cookie(name).unwrap();
        assert!(
            c.contains("Max-Age=0") && c.contains("Domain=a.localhost") && c.contains("Path=/"),
            "{c}"
        );
    }
    let end = r.location().unwrap();
    assert!(
        end.as_str()
            .starts_with(&format!("{}/protocol/openid-connect/logout", w.op.issuer)),
        "{end}"
    );
    let q: std::collections::HashMap<_, _> = end.query_pairs().into_owned().collect();
    assert!(q.contains_key("id_token_hint") && q.contains_key("state"));
    assert_eq!(q["client_id"], "gw-a");
    assert_eq!(q["post_logout_redirect_uri"], w.a.url("/sso/logged-out"));
    // A's still-unexpired access token is refused right away (tombstone + revocation cache)
    let r = crate::auth_with_cookies(&w.a, &a_cookies).await;
    assert_eq!(r.status, 401);

    // the OP's page auto-submits; it back-channels A and B, then returns to /sso/logged-out
    let hops = b.follow(end.as_str(), |_| false).await;
    let page = hops.last().unwrap();
    let hops = submit_op_logout(&b, page, |u| u.host_str() == Some("app1.a.localhost")).await;
    let last = hops.last().unwrap();
    assert_eq!(
        last.location().unwrap().as_str(),
        rd,
        "ends at rd: {:?}",
        hops.iter().map(|h| h.url.to_string()).collect::<Vec<_>>()
    );

    // B shows signed out and clears its cookies on the next request
    let r = auth(&b, &w.b).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.set_cookie("sso_rt").unwrap().contains("Max-Age=0"));
    assert!(
        eventually(5, || async {
            session_keys(&w.redis.url()).await.is_empty()
        })
        .await
    );
    assert!(
        b.jar
            .all()
            .iter()
            .all(|c| !c.name.starts_with("sso_at") && c.name != "sso_rt"),
        "{:?}",
        b.jar.all()
    );
    let stats = w.op.stats().await;
    assert!(
        stats["backchannel"].as_array().unwrap().len() >= 2,
        "{stats}"
    );
}

#[tokio::test]
async fn logged_out_checks_state_and_csrf_is_refused() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    // cross-site requests cannot log anyone out
    let r = b
        .post_form(
            &w.a.url("/sso/logout"),
            &[],
            &[("Origin", "https://evil.com")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .get_with(&w.a.url("/sso/logout"), &[("Sec-Fetch-Site", "cross-site")])
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("id=\"confirm-logout\""), "{}", r.body);
    assert_eq!(
        r.headers["referrer-policy"], "same-origin",
        "the form must send its Origin"
    );
    assert_eq!(auth(&b, &w.a).await.status, 200, "still signed in");
    // wrong state on return
    let r = b
        .get(&format!("{}?state=forged", w.a.url("/sso/logged-out")))
        .await;
    assert_eq!(r.status, 400);
    // an open redirect through logout is refused too
    let r = b
        .get(&format!(
            "{}?rd={}",
            w.a.url("/sso/logout"),
            urlencode("https://evil.com/")
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(auth(&b, &w.a).await.status, 200);
    // a same-site POST from an HTML form works; rd may come in the body
    let rd = w.a.app_url();
    let r = b
        .post_form(
            &w.a.url("/sso/logout"),
            &[("rd", rd.as_str())],
            &[("Origin", &w.a.base()), ("Sec-Fetch-Site", "same-site")],
        )
        .await;
    assert_eq!(r.status, 302);
    let state = r
        .location()
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = b
        .get(&format!("{}?state={state}", w.a.url("/sso/logged-out")))
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location().unwrap().as_str(), rd);
}

#[tokio::test]
async fn json_logout_for_spas_and_webviews_ends_the_op_session() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    w.op.reset_stats().await;
    let r = b
        .post_form(
            &w.a.url("/sso/logout"),
            &[],
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["logged_out"], true);
    assert_eq!(j["op_session_ended"], true, "{j}");
    assert!(r.set_cookie("sso_rt").unwrap().contains("Max-Age=0"));
    assert_eq!(auth(&b, &w.a).await.status, 401);
    // Keycloak-style server-side logout: the OP ended its SSO session and back-channelled B
    let stats = w.op.stats().await;
    assert_eq!(stats["rp_backchannel_logout"], 1, "{stats}");
    assert!(
        eventually(5, || async {
            session_keys(&w.redis.url()).await.is_empty()
        })
        .await
    );
    assert_eq!(auth(&b, &w.b).await.status, 401);
    // and the next login asks for the password again
    let start = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&w.a.app_url()));
    let hops = b
        .follow(&start, |u| u.host_str() == Some("app1.a.localhost"))
        .await;
    assert!(
        hops.last().unwrap().body.contains("id=\"login\""),
        "OP session is gone"
    );
}

#[tokio::test]
async fn get_logout_can_be_turned_off() {
    let w = World::start_with(Default::default(), |o| {
        o.extra.push_str("[logout]\nallow_get = false\n")
    });
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let r = b.get(&w.a.url("/sso/logout")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    // a person gets "Sign out?" with the button that posts the logout
    assert!(
        r.body.contains("<h1 id=\"title\">Sign out?</h1>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"confirm-logout\""), "{}", r.body);
    assert_eq!(
        auth(&b, &w.a).await.status,
        200,
        "a GET (a link, an <img>) logs nobody out"
    );
    let r = b
        .post_form(&w.a.url("/sso/logout"), &[], &[("Origin", &w.a.base())])
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(auth(&b, &w.a).await.status, 401);
}
