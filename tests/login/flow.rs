use sso_integration_tests::world::{login, urlencode};
use sso_integration_tests::Browser;

use crate::{session_keys, world};

#[tokio::test]
async fn login_at_a_then_sso_at_b_without_password() {
    let w = world();
    let browser = Browser::new();

    let landed = login(&browser, &w.a, "alice", "alice-password").await;
    assert_eq!(landed.as_str(), w.a.app_url(), "sent back to rd");

    // The app on a sibling subdomain now carries the domain cookies.
    let app_cookies = browser.jar.cookies_for(&w.a.app_url());
    assert!(app_cookies.contains_key("sso_at"), "{app_cookies:?}");
    assert!(app_cookies.contains_key("sso_rt"));
    assert!(
        !app_cookies.contains_key("sso_login"),
        "login cookie is host-only"
    );

    let s = browser
        .get_with(&w.a.url("/sso/session"), &[("Accept", "application/json")])
        .await;
    let j = s.json();
    assert_eq!(j["authenticated"], true, "{j}");
    assert_eq!(j["preferred_username"], "alice");
    assert_eq!(j["email"], "alice@example.com");
    assert_eq!(session_keys(&w.redis.url()).await.len(), 1);

    // B: the OP session answers without a login page.
    let start = format!("{}?rd={}", w.b.url("/sso/login"), urlencode(&w.b.app_url()));
    let hops = browser
        .follow(&start, |u| u.host_str() == Some("app.b.localhost"))
        .await;
    assert!(
        hops.iter().all(|h| !h.body.contains("id=\"login\"")),
        "no password prompt at B"
    );
    assert_eq!(
        hops.last().unwrap().location().unwrap().as_str(),
        w.b.app_url()
    );
    let b = browser.jar.cookies_for(&w.b.app_url());
    assert!(b.contains_key("sso_at") && b.contains_key("sso_rt"));

    // Each domain's cookies carry only that domain.
    for c in browser
        .jar
        .all()
        .iter()
        .filter(|c| c.name.starts_with("sso_at") || c.name == "sso_rt")
    {
        assert!(
            c.domain == "a.localhost" || c.domain == "b.localhost",
            "{c:?}"
        );
    }
    let a_at = browser.jar.cookies_for(&w.a.app_url())["sso_at"].clone();
    assert_ne!(a_at, b["sso_at"], "separate tokens per domain");
    let j = browser
        .get_with(&w.b.url("/sso/session"), &[("Accept", "application/json")])
        .await
        .json();
    assert_eq!(j["preferred_username"], "alice");
    assert_eq!(session_keys(&w.redis.url()).await.len(), 2);
}

#[tokio::test]
async fn cookie_attributes_are_exact() {
    let w = world();
    let browser = Browser::new();
    let start = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&w.a.app_url()));
    let first = browser.get(&start).await;
    assert_eq!(first.status, 302);
    // parsed and compared field by field (a substring `Path=/` would also match `Path=/sso`)
    let c = parsed(&first.set_cookie("sso_login").unwrap());
    assert_eq!(c.http_only(), Some(true), "{c}");
    assert_eq!(c.secure(), Some(true), "{c}");
    assert_eq!(c.same_site(), Some(cookie::SameSite::Lax), "{c}");
    assert_eq!(c.path(), Some("/sso"), "{c}");
    assert_eq!(
        c.max_age(),
        Some(cookie::time::Duration::seconds(600)),
        "{c}"
    );
    assert_eq!(c.domain(), None, "sso_login is host-only: {c}");

    // The OP authorization request carries PKCE S256, state, nonce.
    let op_url = first.location().unwrap();
    let q: std::collections::HashMap<_, _> = op_url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);

    let hops = browser
        .follow(op_url.as_str(), |u| u.path() == "/sso/callback")
        .await;
    let page = hops.last().unwrap();
    let hops = browser
        .submit_login(page, "alice", "alice-password", |u| {
            u.path() == "/sso/callback"
        })
        .await;
    let cb = hops.last().unwrap().location().unwrap();
    let r = browser.get(cb.as_str()).await;
    assert_eq!(r.status, 302);
    for name in ["sso_at", "sso_rt"] {
        let c = parsed(
            &r.set_cookie(name)
                .unwrap_or_else(|| panic!("{name} not set: {:?}", r.set_cookies())),
        );
        assert_eq!(c.domain(), Some("a.localhost"), "{name}: {c}");
        assert_eq!(c.path(), Some("/"), "{name}: {c}");
        assert_eq!(c.http_only(), Some(true), "{name}: {c}");
        assert_eq!(c.secure(), Some(true), "{name}: {c}");
        assert_eq!(c.same_site(), Some(cookie::SameSite::Lax), "{name}: {c}");
        let age = c
            .max_age()
            .unwrap_or_else(|| panic!("{name}: no Max-Age: {c}"));
        assert!(age > cookie::time::Duration::ZERO, "{name}: {c}");
    }
    // the refresh token itself never reaches the browser: sso_rt is an opaque sealed handle
    let rt = r.set_cookie("sso_rt").unwrap();
    let rec = sso_integration_tests::world::sessions_of(
        &w.a,
        &w.op.issuer,
        sso_integration_tests::world::ALICE_SUB,
    )
    .await
    .remove(0);
    let refresh_token = rec.refresh_token.unwrap();
    assert!(
        !rt.contains(refresh_token.secret()),
        "refresh token leaked into sso_rt"
    );
    assert!(
        !rt.contains(rec.id.secret()),
        "session id readable in sso_rt"
    );
    let cookies = r.set_cookies().join("\n");
    assert!(!cookies.contains(refresh_token.secret()));
    let cleared = parsed(&r.set_cookie("sso_login").unwrap());
    assert_eq!(
        cleared.max_age(),
        Some(cookie::time::Duration::ZERO),
        "{cleared}"
    );
    assert_eq!(
        cleared.path(),
        Some("/sso"),
        "cleared where it was set: {cleared}"
    );
}

/// A `Set-Cookie` value, parsed.
fn parsed(set_cookie: &str) -> cookie::Cookie<'static> {
    cookie::Cookie::parse(set_cookie.to_string())
        .unwrap_or_else(|e| panic!("unparsable Set-Cookie {set_cookie:?}: {e}"))
}

#[tokio::test]
async fn wrong_password_shows_form_again_and_creates_nothing() {
    let w = world();
    let browser = Browser::new();
    let start = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&w.a.app_url()));
    let hops = browser.follow(&start, |_| false).await;
    let page = hops.last().unwrap();
    let hops = browser.submit_login(page, "alice", "nope", |_| false).await;
    assert!(hops.last().unwrap().body.contains("id=\"login\""));
    assert!(session_keys(&w.redis.url()).await.is_empty());
}

#[tokio::test]
async fn pass_through_params_and_max_age() {
    let w = world();
    let browser = Browser::new();
    let url = format!(
        "{}?rd={}&prompt=login&max_age=300&ui_locales=ko&login_hint=alice&kc_idp_hint=github",
        w.a.url("/sso/login"),
        urlencode(&w.a.app_url())
    );
    let r = browser.get(&url).await;
    assert_eq!(r.status, 302);
    let q: std::collections::HashMap<_, _> =
        r.location().unwrap().query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["max_age"], "300");
    assert_eq!(q["ui_locales"], "ko");
    assert_eq!(q["login_hint"], "alice");
    assert_eq!(q["kc_idp_hint"], "github");
    // invalid values are refused with a clear message
    let bad = browser
        .get(&format!("{}?prompt=evil", w.a.url("/sso/login")))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("prompt"), "{}", bad.body);
    let bad = browser
        .get(&format!("{}?max_age=-1", w.a.url("/sso/login")))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn op_error_on_callback_is_a_clear_page() {
    let w = world();
    let browser = Browser::new();
    let r = browser
        .get(&format!(
            "{}?rd={}",
            w.a.url("/sso/login"),
            urlencode(&w.a.app_url())
        ))
        .await;
    let state: String = r
        .location()
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cb = format!(
        "{}?error=access_denied&error_description=User%20cancelled&state={state}&iss={}",
        w.a.url("/sso/callback"),
        urlencode(&w.op.issuer)
    );
    let r = browser.get(&cb).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("access_denied") && r.body.contains("User cancelled"),
        "{}",
        r.body
    );
    assert!(r.set_cookie("sso_at").is_none());
    assert!(session_keys(&w.redis.url()).await.is_empty());
    // markup from the OP's error_description is escaped, never rendered
    let r = browser
        .get(&format!(
            "{}?error=x&error_description=%3Cscript%3E&state=zz",
            w.a.url("/sso/callback")
        ))
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("<script>"));
}

#[tokio::test]
async fn op_down_is_503_not_500() {
    let mut w = world();
    w.op.stop();
    let browser = Browser::new();
    let r = browser
        .get(&format!(
            "{}?rd={}",
            w.a.url("/sso/login"),
            urlencode(&w.a.app_url())
        ))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    let r = browser.get(&w.a.url("/readyz")).await;
    assert_eq!(r.status, 503);
    assert_eq!(browser.get(&w.a.url("/healthz")).await.status, 200);
}

#[tokio::test]
async fn a_new_login_replaces_the_browsers_previous_session() {
    let w = world();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let first = b.jar.cookies_for(&w.a.app_url());
    login(&b, &w.a, "alice", "alice-password").await; // SSO at the OP: no form
    assert_eq!(
        session_keys(&w.redis.url()).await.len(),
        1,
        "the old session is ended, not orphaned"
    );
    let old = sso_integration_tests::world::forward_auth_with_cookies(&w.a, &first).await;
    assert_eq!(
        old.status, 401,
        "the replaced session's cookies no longer work"
    );
}

/// `/metrics` (issue 12): the latency histograms of requests, OP calls and Redis commands
/// fill in as a real login goes through them.
#[tokio::test]
async fn metrics_carry_latency_histograms_of_requests_op_calls_and_redis() {
    let w = world();
    let browser = Browser::new();
    login(&browser, &w.a, "alice", "alice-password").await;
    assert_eq!(browser.get(&w.a.url("/sso/auth")).await.status, 200);
    let m = Browser::new().get(&w.a.url("/metrics")).await.body;
    let count = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    for (series, what) in [
        (
            "sso_http_request_duration_seconds_count{route=\"/auth\"}",
            "forward-auth requests",
        ),
        (
            "sso_http_request_duration_seconds_count{route=\"/callback\"}",
            "login callbacks",
        ),
        (
            "sso_op_request_duration_seconds_count{call=\"token\"}",
            "code exchanges at the OP",
        ),
        (
            "sso_op_request_duration_seconds_count{call=\"discovery\"}",
            "discovery fetches",
        ),
        ("sso_redis_command_duration_seconds_count", "Redis commands"),
    ] {
        assert!(
            count(series) >= 1.0,
            "{what}: {series} missing or 0 in\n{m}"
        );
    }
    assert!(m.contains("# TYPE sso_http_request_duration_seconds histogram"));
    assert!(m.contains("sso_auth_ok_total 1\n") || count("sso_auth_ok_total") >= 1.0);
}
