//! Secrets never reach the logs, even at debug level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use sso_core::config::LogFormat;
use sso_integration_tests::world::{login, urlencode, World, COOKIE_KEY};
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

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let buf = Buf::default();
    sso_gateway::telemetry::init_with_writer(
        LogFormat::Json,
        "trace,h2=debug,hyper=debug,hyper_util=debug,reqwest=debug",
        buf.clone(),
    );
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    // a failed callback logs too
    let r = b
        .get(&format!(
            "{}?code=leaky-code-123&state=leaky-state-456",
            w.a.url("/sso/callback")
        ))
        .await;
    assert_eq!(r.status, 400);
    let _ = b
        .get(&format!(
            "{}?rd={}",
            w.b.url("/sso/login"),
            urlencode(&w.b.app_url())
        ))
        .await;
    let cookies = b.jar.cookies_for(&w.a.app_url());
    let rec = sso_integration_tests::world::sessions_of(
        &w.a,
        &w.op.issuer,
        sso_integration_tests::world::ALICE_SUB,
    )
    .await
    .remove(0);

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login completed"), "logging works at all");
    assert!(
        logs.contains("\"request_id\""),
        "events carry the request id"
    );
    let secrets = [
        ("client secret", "gw-a-secret".to_string()),
        ("cookie key", COOKIE_KEY[..40].to_string()),
        ("sso_at", cookies["sso_at"][..60].to_string()),
        ("sso_rt", cookies["sso_rt"][..40].to_string()),
        (
            "refresh token",
            rec.refresh_token.unwrap().secret()[..20].to_string(),
        ),
        ("id token", rec.id_token.unwrap().secret()[..60].to_string()),
        ("session id", rec.id.secret().to_string()),
        ("code", "leaky-code-123".to_string()),
        ("state", "leaky-state-456".to_string()),
    ];
    for (what, s) in secrets {
        assert!(!logs.contains(&s), "{what} leaked into the logs");
    }
}
