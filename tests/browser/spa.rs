//! The SPA of `examples/spa` with the shipped client module `clients/js/sso.js`, in Chromium:
//! on `app1.a.localhost` and `app.b.localhost`, calling `/api/me` on `api.a.localhost` with
//! credentialed CORS. The same flow runs as a desktop browser, as an Android WebView (mobile
//! emulation) and in app mode (`--app=URL`, as a desktop shell embedding Chromium runs it).

use std::time::Duration;

use serde_json::{json, Value};
use sso_integration_tests::chrome::{Chrome, ChromeOptions, ANDROID_WEBVIEW_UA};
use sso_integration_tests::procs::OpOptions;
use url::Url;

use crate::{is_op_login_page, screenshot, sso_cookies, Env, WAIT};

/// Access tokens live this long at the OP: long enough for a page to use one, short enough
/// to see one expire.
const AT_TTL: u64 = 4;

fn op() -> OpOptions {
    OpOptions {
        access_token_ttl: Some(AT_TTL),
        ..Default::default()
    }
}

/// Wait until the browser is on the SPA at `spa` (host and port) and it shows `status`.
async fn wait_spa(chrome: &Chrome, spa: &str, status: &str) {
    let want = Url::parse(spa).unwrap();
    chrome
        .wait_for_url(&format!("the SPA at {want}"), WAIT, |u| {
            u.host_str() == want.host_str() && u.port() == want.port() && u.path() == want.path()
        })
        .await;
    chrome.wait_for_text("#status", status, WAIT).await;
}

async fn open_spa(chrome: &Chrome, spa: &str, status: &str) {
    chrome.goto(spa).await;
    wait_spa(chrome, spa, status).await;
}

/// `[method, url, status]` of every request the SPA page made since it loaded (or since
/// [`clear_net`]); status `blocked` when the browser hid the answer from the page.
async fn net(chrome: &Chrome) -> Vec<(String, String, String)> {
    let v = chrome
        .execute(
            "return spa.net.map(e => [e.method, e.url, String(e.status)])",
            vec![],
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |i: usize| e[i].as_str().unwrap().to_string();
            (s(0), s(1), s(2))
        })
        .collect()
}

async fn clear_net(chrome: &Chrome) {
    chrome.execute("spa.net.length = 0", vec![]).await;
}

/// `net` as `METHOD host/path STATUS` lines, for readable assertions.
fn brief(net: &[(String, String, String)]) -> Vec<String> {
    net.iter()
        .map(|(m, u, s)| {
            let u = Url::parse(u).unwrap();
            let host_path = &u[url::Position::BeforeHost..url::Position::AfterPath];
            format!("{m} {host_path} {s}")
        })
        .collect()
}

/// Run an async script in the page: `body` ends by calling `done(value)`.
async fn run(chrome: &Chrome, body: &str, args: Vec<Value>) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1]; (async () => {{ {body} }})()\
         .then(done, e => done({{thrown: String(e)}}));"
    );
    chrome.execute_async(&script, args).await
}

async fn login_attempts(chrome: &Chrome) -> i64 {
    chrome
        .execute("return spa.sso.loginAttempts()", vec![])
        .await
        .as_i64()
        .unwrap()
}

/// Poll until the access token in the jar has expired at the API: a credentialed call to
/// `/api/me` answers `401`.
async fn wait_token_expired(chrome: &Chrome) {
    chrome
        .wait_until(
            "the access token to expire at the API",
            Duration::from_secs(AT_TTL + 10),
            || async {
                let s = run(
                    chrome,
                    "const r = await fetch(spa.cfg.api, {credentials: 'include'}); done(r.status);",
                    vec![],
                )
                .await;
                (s == json!(401)).then_some(())
            },
        )
        .await;
}

/// On the signed-out SPA at `spa`: "Sign in" → the OP's form → back on the SPA, signed in.
async fn spa_login_with_password(chrome: &Chrome, spa: &str, shots: Option<&str>) {
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    let form_url = chrome.current_url().await;
    assert!(is_op_login_page(&form_url), "login form at {form_url}");
    if let Some(p) = shots {
        screenshot(chrome, &format!("{p}-op-login")).await;
    }
    chrome
        .type_into("form#login input[name=username]", "alice")
        .await;
    chrome
        .type_into("form#login input[name=password]", "alice-password")
        .await;
    chrome.click("#kc-login").await;
    wait_spa(chrome, spa, "Signed in").await;
    assert_eq!(chrome.text("#user").await, "alice");
    assert_eq!(chrome.current_url().await.as_str(), spa, "back at rd");
}

/// On the signed-out SPA at `spa`: "Sign in" and signed in through the OP session alone
/// (fails at once if the OP's form appears).
async fn spa_login_without_password(chrome: &Chrome, spa: &str) {
    chrome.click("#login").await;
    let host = Url::parse(spa).unwrap().host_str().map(str::to_string);
    let seen = chrome
        .wait_until("signed in or the OP's login form", WAIT, || async {
            let u = chrome.current_url().await;
            if is_op_login_page(&u) {
                return Some(Err(u));
            }
            let ok = u.host_str() == host.as_deref()
                && chrome.try_text("#status").await.as_deref() == Some("Signed in");
            ok.then_some(Ok(()))
        })
        .await;
    if let Err(u) = seen {
        panic!("{spa} asked for a password: the OP's login form is at {u}");
    }
}

/// The whole SPA story in one browser: login as a top-level navigation, the API with
/// credentials, expiry → 401 → one refresh → retry, single-flight refresh, JSON logout that
/// reaches B and the OP. `shots`: screenshot name prefix; `keep`: the states to save
/// (`signed-out`, `op-login`, `api-after-refresh`, `logged-out`).
async fn spa_story(env: &Env, shots: &str, keep: &[&str]) {
    let shot = |state: &'static str| async move {
        if keep.contains(&state) {
            screenshot(&env.chrome, &format!("{shots}-{state}")).await;
        }
    };
    let chrome = &env.chrome;
    let (spa_a, spa_b) = (env.spa_a(), env.spa_b());
    let api = format!("api.a.localhost:{}", env.demo.port);
    let gw_a = format!("auth.a.localhost:{}", env.w.a.port);

    // anonymous: the module asks the gateway, the page offers "Sign in"
    open_spa(chrome, &spa_a, "Signed out").await;
    assert!(chrome.try_find_css("#login:not([hidden])").await.is_some());
    assert_eq!(
        brief(&net(chrome).await),
        [format!("GET {gw_a}/sso/session 200")]
    );
    shot("signed-out").await;

    // login(): a top-level navigation through the gateway to the OP's form and back
    let op_shot = keep.contains(&"op-login").then_some(shots);
    spa_login_with_password(chrome, &spa_a, op_shot).await;
    assert_eq!(
        login_attempts(chrome).await,
        0,
        "a session resets the guard"
    );

    // the API on api.a.localhost, with the a.localhost cookies (credentialed CORS)
    clear_net(chrome).await;
    chrome.click("#call-api").await;
    chrome.wait_for_text("#api-status", "200", WAIT).await;
    let me: Value = serde_json::from_str(&chrome.text("#api-result").await).unwrap();
    assert_eq!(me["preferred_username"], "alice", "{me}");
    assert_eq!(
        brief(&net(chrome).await).last().unwrap(),
        &format!("GET {api}/api/me 200")
    );

    // the access token expires: 401 → refresh() once → the retry succeeds
    wait_token_expired(chrome).await;
    clear_net(chrome).await;
    chrome.click("#call-api").await;
    chrome
        .wait_until("the API call to be retried", WAIT, || async {
            (net(chrome).await.len() >= 3).then_some(())
        })
        .await;
    chrome.wait_for_text("#api-status", "200", WAIT).await;
    assert_eq!(
        brief(&net(chrome).await),
        [
            format!("GET {api}/api/me 401"),
            format!("POST {gw_a}/sso/refresh 200"),
            format!("GET {api}/api/me 200"),
        ]
    );
    shot("api-after-refresh").await;

    // refresh() is single-flight: three callers, one request
    clear_net(chrome).await;
    let r = run(
        chrome,
        "const all = await Promise.all([spa.sso.refresh(), spa.sso.refresh(), spa.sso.refresh()]);\
         done(all.map(s => s && s.preferred_username));",
        vec![],
    )
    .await;
    assert_eq!(r, json!(["alice", "alice", "alice"]));
    assert_eq!(
        brief(&net(chrome).await),
        [format!("POST {gw_a}/sso/refresh 200")]
    );

    // B: the SPA on app.b.localhost signs in through the OP session alone
    open_spa(chrome, &spa_b, "Signed out").await;
    spa_login_without_password(chrome, &spa_b).await;

    // JSON logout at A through fetch: cookies cleared, every gateway, the OP session
    open_spa(chrome, &spa_a, "Signed in").await;
    clear_net(chrome).await;
    chrome.click("#logout").await;
    chrome.wait_for_text("#status", "Signed out", WAIT).await;
    assert_eq!(
        chrome.text("#message").await,
        "You are signed out everywhere.",
        "op_session_ended: true"
    );
    assert_eq!(
        brief(&net(chrome).await),
        [format!("POST {gw_a}/sso/logout 200")]
    );
    assert_eq!(
        sso_cookies(chrome, "a.localhost").await,
        Vec::<String>::new()
    );
    shot("logged-out").await;

    // B's SPA now sees authenticated: false, and its stale cookies are cleared
    open_spa(chrome, &spa_b, "Signed out").await;
    assert_eq!(
        sso_cookies(chrome, "b.localhost").await,
        Vec::<String>::new()
    );
    // the OP session ended too: signing in at B asks for the password again
    chrome.click("#login").await;
    let form = chrome
        .wait_for_url("the OP's login form", WAIT, is_op_login_page)
        .await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    assert!(is_op_login_page(&form));
}

#[tokio::test]
async fn spa_desktop_login_api_refresh_logout() {
    let env = Env::spa(op(), |_, _| ChromeOptions {
        window_size: Some((1000, 700)),
        ..Default::default()
    })
    .await;
    spa_story(
        &env,
        "spa-desktop",
        &["signed-out", "api-after-refresh", "logged-out"],
    )
    .await;
}

/// A page on an origin outside `cors.allowed_origins` (same site, so the browser sends the
/// cookies): the browser keeps `/sso/session`'s answer from it, and its refresh is refused
/// with 403 without rotating anything.
#[tokio::test]
async fn spa_origin_outside_cors_list_is_refused() {
    // long-lived tokens: `/sso/session` (which the browser lets through, then hides) must
    // not be the one to rotate the cookies on an expired token
    let env = Env::spa(OpOptions::default(), |_, _| ChromeOptions {
        performance_log: true,
        ..Default::default()
    })
    .await;
    let chrome = &env.chrome;
    let spa_a = env.spa_a();
    open_spa(chrome, &spa_a, "Signed out").await;
    spa_login_with_password(chrome, &spa_a, None).await;
    let at_before: Vec<String> = chrome
        .all_cookies()
        .await
        .into_iter()
        .filter(|c| c.name == "sso_rt")
        .map(|c| c.value)
        .collect();
    chrome.network_responses().await; // drop what came before

    let evil = format!("http://evil.a.localhost:{}/spa/config.json", env.demo.port);
    chrome.goto(&evil).await;
    let got = run(
        chrome,
        "const gw = arguments[0]; const out = {};\
         try { await fetch(gw + '/sso/session', {credentials: 'include'}); out.session = 'read'; }\
         catch (e) { out.session = 'blocked'; }\
         try { await fetch(gw + '/sso/refresh', {method: 'POST', credentials: 'include'}); out.refresh = 'read'; }\
         catch (e) { out.refresh = 'blocked'; }\
         done(out);",
        vec![json!(env.w.a.base())],
    )
    .await;
    assert_eq!(got, json!({"session": "blocked", "refresh": "blocked"}));
    // what the network saw: the gateway answered, the browser kept it from the page
    let seen = chrome.network_responses().await;
    let status_of = |path: &str| {
        seen.iter()
            .find(|(u, _)| u.ends_with(path))
            .map(|(_, s)| *s)
            .unwrap_or_else(|| panic!("no response for {path}: {seen:?}"))
    };
    assert_eq!(status_of("/sso/session"), 200);
    assert_eq!(status_of("/sso/refresh"), 403);
    let at_after: Vec<String> = chrome
        .all_cookies()
        .await
        .into_iter()
        .filter(|c| c.name == "sso_rt")
        .map(|c| c.value)
        .collect();
    assert_eq!(at_before, at_after, "the refused refresh rotated nothing");

    // the allowed origin still reads it
    open_spa(chrome, &spa_a, "Signed in").await;
}

/// The gateway answers 503 + Retry-After (its Redis hangs): the SPA says so, waits, tries
/// again, and never starts a login; once Redis is back the same session is used.
#[tokio::test]
async fn spa_waits_through_503_and_never_logs_in() {
    let env = Env::spa(op(), |_, _| ChromeOptions {
        performance_log: true,
        ..Default::default()
    })
    .await;
    let chrome = &env.chrome;
    let spa_a = env.spa_a();
    open_spa(chrome, &spa_a, "Signed out").await;
    spa_login_with_password(chrome, &spa_a, None).await;

    env.w.redis.pause();
    // the gateway serves a valid token without Redis: wait until it must refresh
    wait_token_expired(chrome).await;
    chrome.network_responses().await;
    let before = chrome.history().await;
    chrome.goto(&spa_a).await;
    chrome
        .wait_for_text("#status", "Temporarily unavailable", WAIT)
        .await;
    assert_eq!(
        chrome.text("#message").await,
        "The sign-in service is unavailable. Trying again in 5 s…"
    );
    // Retry-After is readable cross-origin (Access-Control-Expose-Headers)
    let ra = run(
        chrome,
        "const r = await fetch(spa.sso.base + '/session', {credentials: 'include'});\
         done([r.status, r.headers.get('Retry-After')]);",
        vec![],
    )
    .await;
    assert_eq!(ra, json!([503, "5"]));
    screenshot(chrome, "spa-desktop-unavailable").await;

    env.w.redis.resume();
    chrome
        .wait_for_text("#status", "Signed in", Duration::from_secs(20))
        .await;
    assert_eq!(chrome.text("#user").await, "alice");
    let waits = chrome.execute("return spa.waits", vec![]).await;
    assert!(waits.as_i64().unwrap() >= 1, "waits: {waits}");
    assert_eq!(login_attempts(chrome).await, 0);
    // no login was started: the reload left the history as it was, nothing from /sso/login
    assert_eq!(chrome.history().await, before);
    let seen = chrome.network_responses().await;
    assert!(
        seen.iter()
            .all(|(u, _)| !u.contains("/sso/login") && !u.contains("/interaction/")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(u, s)| u.ends_with("/sso/session") && *s == 503),
        "{seen:?}"
    );
}

/// Cookies blocked for the SPA's calls to the gateway (a content-settings exception: the
/// gateway's origin while the SPA is the page), as a WebView refusing them would: the login
/// itself works, but the page never sees the session. The loop guard stops after two logins
/// and shows the error.
#[tokio::test]
async fn spa_login_loop_guard_with_cookies_blocked() {
    let env = Env::spa(op(), |w, port| {
        ChromeOptions {
            performance_log: true,
            ..Default::default()
        }
        .block_cookies(
            &format!("http://auth.a.localhost:{}", w.a.port),
            &format!("http://app1.a.localhost:{port}"),
        )
    })
    .await;
    let chrome = &env.chrome;
    let spa_a = env.spa_a();
    open_spa(chrome, &spa_a, "Signed out").await;
    chrome.network_responses().await;
    chrome.click("#login").await;
    chrome.wait_for("form#login #kc-login", WAIT).await;
    chrome
        .type_into("form#login input[name=username]", "alice")
        .await;
    chrome
        .type_into("form#login input[name=password]", "alice-password")
        .await;
    chrome.click("#kc-login").await;
    chrome
        .wait_for_text("#status", "Sign-in problem", Duration::from_secs(20))
        .await;
    let msg = chrome.text("#message").await;
    assert!(msg.contains("did not stick after 2 attempts"), "{msg}");
    assert_eq!(login_attempts(chrome).await, 2);
    assert!(chrome.try_find_css("#login:not([hidden])").await.is_none());
    screenshot(chrome, "spa-desktop-login-loop").await;
    // exactly two logins went through the gateway, and the gateway did set its cookies
    let seen = chrome.network_responses().await;
    let logins = seen
        .iter()
        .filter(|(u, _)| u.contains("/sso/login?"))
        .count();
    assert_eq!(logins, 2, "{seen:?}");
    assert!(sso_cookies(chrome, "a.localhost")
        .await
        .contains(&"sso_rt".to_string()));
}

/// The same story in an Android WebView: its user agent, touch and a phone viewport.
#[tokio::test]
async fn spa_android_webview() {
    let env = Env::spa(op(), |_, _| ChromeOptions::android_webview()).await;
    let chrome = &env.chrome;
    open_spa(chrome, &env.spa_a(), "Signed out").await;
    let probe = chrome
        .execute(
            "return [navigator.userAgent, navigator.maxTouchPoints > 0, innerWidth]",
            vec![],
        )
        .await;
    assert_eq!(probe[0], ANDROID_WEBVIEW_UA);
    assert_eq!(probe[1], true, "touch");
    assert_eq!(probe[2], 412, "phone viewport");
    spa_story(&env, "spa-webview", &["op-login", "api-after-refresh"]).await;
}

/// The same story in app mode (`--app=<SPA URL>`): the window a desktop shell embedding
/// Chromium opens, starting on the SPA.
#[tokio::test]
async fn spa_embedded_app_mode() {
    let env = Env::spa(op(), |_, port| ChromeOptions {
        app_url: Some(format!("http://app1.a.localhost:{port}/spa/")),
        window_size: Some((1000, 700)),
        ..Default::default()
    })
    .await;
    // the app window opened on the SPA by itself
    wait_spa(&env.chrome, &env.spa_a(), "Signed out").await;
    spa_story(&env, "spa-app", &["api-after-refresh"]).await;
}
