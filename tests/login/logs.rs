//! Secrets never reach the logs, at trace level for every crate, through every flow: login
//! (and a failed callback), refresh, the admin API, RP-initiated logout, the OP's back-channel
//! logout and its fan-out to the peer domain.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use sso_core::config::LogFormat;
use sso_integration_tests::world::{
    eventually, session_keys, submit_op_logout, urlencode, World, COOKIE_KEY,
};
use sso_integration_tests::Browser;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

const ADMIN_TOKEN: &str = "admin-token-for-the-log-test-0123456789";
const FEDERATION_KEY: &str = "ZmVkZXJhdGlvbi1rZXktZmVkZXJhdGlvbi1rZXktZmVkZXJhdGlvbi1rZXk=";

/// Log in at `g` by hand, returning the authorization code and `state` the browser carried.
async fn login_capturing(
    b: &Browser,
    g: &sso_integration_tests::GatewayHandle,
) -> (String, String) {
    let app_host = url::Url::parse(&g.app_url())
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let stop = |u: &url::Url| u.host_str() == Some(app_host.as_str());
    let start = format!("{}?rd={}", g.url("/sso/login"), urlencode(&g.app_url()));
    let mut hops = b.follow(&start, stop).await;
    let last = hops.last().unwrap();
    if last.body.contains("id=\"login\"") {
        let more = b.submit_login(last, "alice", "alice-password", stop).await;
        hops.extend(more);
    }
    let cb = hops
        .iter()
        .find(|r| r.url.path() == "/sso/callback")
        .unwrap_or_else(|| {
            panic!(
                "no callback among {:?}",
                hops.iter().map(|h| h.url.as_str()).collect::<Vec<_>>()
            )
        });
    let q: std::collections::HashMap<String, String> = cb.url.query_pairs().into_owned().collect();
    (q["code"].clone(), q["state"].clone())
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let buf = Buf::default();
    // trace for every crate, whatever SSO_LOG says in the environment
    sso_gateway::telemetry::init_exact(LogFormat::Json, "trace", buf.clone());
    let w = World::start_split(Default::default(), |o| {
        let f = World::fanout_toml(o, true);
        o.extra.push_str(&f);
        o.extra
            .push_str(&format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"));
    });
    let b = Browser::new();
    let (code_a, state_a) = login_capturing(&b, &w.a).await;
    let (code_b, state_b) = login_capturing(&b, &w.b).await;
    // a failed callback logs too
    let r = b
        .get(&format!(
            "{}?code=leaky-code-123&state=leaky-state-456",
            w.a.url("/sso/callback")
        ))
        .await;
    assert_eq!(r.status, 400);
    let first_cookies = b.jar.cookies_for(&w.a.app_url());
    let first = sso_integration_tests::world::sessions_of(
        &w.a,
        &w.op.issuer,
        sso_integration_tests::world::ALICE_SUB,
    )
    .await
    .remove(0);

    // refresh (the OP rotates the refresh token)
    let r = b
        .post_form(
            &w.a.url("/sso/refresh"),
            &[],
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refreshed = b.jar.cookies_for(&w.a.app_url());
    let second = sso_integration_tests::world::sessions_of(
        &w.a,
        &w.op.issuer,
        sso_integration_tests::world::ALICE_SUB,
    )
    .await
    .remove(0);

    // the admin API
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = Browser::new()
        .get_with(
            &format!(
                "{}?sub={}",
                w.a.url("/sso/admin/sessions"),
                sso_integration_tests::world::ALICE_SUB
            ),
            &[("Authorization", &auth), ("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200);

    // RP-initiated logout at A: the OP back-channels A and B, A fans out to B
    let stop = |u: &url::Url| u.host_str() == Some("app1.a.localhost");
    let r = b
        .get(&format!(
            "{}?rd={}",
            w.a.url("/sso/logout"),
            urlencode(&w.a.app_url())
        ))
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let hops = b.follow(r.location().unwrap().as_str(), |_| false).await;
    let page = hops.last().unwrap();
    submit_op_logout(&b, page, stop).await;
    assert!(
        eventually(10, || async {
            session_keys(&w.redis.url()).await.is_empty()
                && session_keys(&w.redis_b.as_ref().unwrap().url())
                    .await
                    .is_empty()
        })
        .await,
        "both domains logged out"
    );

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for flow in ["login completed", "backchannel", "refresh"] {
        assert!(
            logs.to_ascii_lowercase().contains(flow),
            "logging works for {flow:?} at all"
        );
    }
    assert!(
        logs.contains("\"request_id\""),
        "events carry the request id"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut secrets: Vec<(String, String)> = vec![
        ("client secret a".into(), "gw-a-secret".into()),
        ("client secret b".into(), "gw-b-secret".into()),
        ("Basic credentials".into(), b64.encode("gw-a:gw-a-secret")),
        ("cookie key".into(), COOKIE_KEY[..40].into()),
        ("federation key".into(), FEDERATION_KEY[..40].into()),
        ("admin token".into(), ADMIN_TOKEN.into()),
        ("code a".into(), code_a),
        ("code b".into(), code_b),
        ("state a".into(), state_a),
        ("state b".into(), state_b),
        ("bad code".into(), "leaky-code-123".into()),
        ("bad state".into(), "leaky-state-456".into()),
    ];
    for (tag, cookies) in [("first", &first_cookies), ("refreshed", &refreshed)] {
        secrets.push((format!("{tag} sso_at"), cookies["sso_at"].clone()));
        secrets.push((
            format!("{tag} sso_at head"),
            cookies["sso_at"][..60].to_string(),
        ));
        secrets.push((format!("{tag} sso_rt"), cookies["sso_rt"].clone()));
    }
    for (tag, rec) in [("first", &first), ("second", &second)] {
        let rt = rec.refresh_token.as_ref().unwrap().secret().to_string();
        secrets.push((format!("{tag} refresh token"), rt.clone()));
        secrets.push((format!("{tag} refresh token head"), rt[..20].to_string()));
        let id = rec.id_token.as_ref().unwrap().secret().to_string();
        secrets.push((format!("{tag} id token"), id[..60].to_string()));
        secrets.push((format!("{tag} session id"), rec.id.secret().to_string()));
    }
    for (what, s) in secrets {
        assert!(!s.is_empty());
        assert!(!logs.contains(&s), "{what} leaked into the logs");
    }
}
