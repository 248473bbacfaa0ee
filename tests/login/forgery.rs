//! Forged ID tokens from a hostile OP: every one refused, the valid control accepted.

use sso_integration_tests::hostile_op::Forge;
use sso_integration_tests::world::EvilWorld;
use sso_integration_tests::Browser;

use crate::session_keys;

fn evil() -> EvilWorld {
    EvilWorld::start()
}

async fn attempt(e: &EvilWorld) -> sso_integration_tests::browser::Resp {
    e.attempt_login(&Browser::new()).await
}

#[tokio::test]
async fn every_forged_id_token_is_refused() {
    let e = evil();
    let r = attempt(&e).await;
    assert_eq!(r.status, 302, "control case must pass: {}", r.body);
    assert_eq!(session_keys(&e.redis.url()).await.len(), 1);
    let cases = [
        (Forge::WrongKey, "signature"),
        (Forge::UnknownKid, "key"),
        (Forge::AlgNone, "algorithm"),
        (Forge::HsWithPublicKey, "algorithm"),
        (Forge::WrongAud, "audience"),
        (Forge::MultiAudNoAzp, "authorized party"),
        (Forge::WrongAzp, "authorized party"),
        (Forge::WrongIss, "issuer"),
        (Forge::WrongNonce, "nonce"),
        (Forge::MissingNonce, "nonce"),
        (Forge::Expired, "expired"),
        (Forge::IatFuture, "future"),
    ];
    for (forge, needle) in cases {
        e.op.set_forge(forge);
        let r = attempt(&e).await;
        assert_eq!(r.status, 400, "{forge:?}: {}", r.body);
        assert!(
            r.body.to_lowercase().contains(needle),
            "{forge:?} page should say {needle:?}: {}",
            r.body
        );
        assert!(
            r.set_cookie("sso_at").is_none() && r.set_cookie("sso_rt").is_none(),
            "{forge:?}"
        );
        assert_eq!(
            session_keys(&e.redis.url()).await.len(),
            1,
            "{forge:?} created a session"
        );
    }
    for (forge, status) in [
        (Forge::NoIdToken, 502),
        (Forge::TokenEndpoint500, 502),
        (Forge::TokenEndpointError, 400),
    ] {
        e.op.set_forge(forge);
        let r = attempt(&e).await;
        assert_eq!(r.status, status, "{forge:?}: {}", r.body);
        assert_eq!(session_keys(&e.redis.url()).await.len(), 1, "{forge:?}");
    }
}

#[tokio::test]
async fn iss_parameter_rules() {
    let e = evil();
    // advertised but omitted → refused
    e.op.set_iss_param(None);
    let r = attempt(&e).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // not advertised and omitted → accepted (older Keycloak)
    let e = EvilWorld::start_with(|op| {
        op.set_advertise_iss(false);
        op.set_iss_param(None);
    });
    let r = attempt(&e).await;
    assert_eq!(r.status, 302, "{}", r.body);
    // not advertised but present and wrong → refused
    e.op.set_iss_param(Some("http://127.0.0.1:1/realms/x".into()));
    let r = attempt(&e).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("issuer"));
}

#[tokio::test]
async fn jwks_is_refetched_on_key_rotation_and_rate_limited() {
    let e = evil();
    assert_eq!(attempt(&e).await.status, 302);
    let fetched = e.op.jwks_calls();
    assert_eq!(fetched, 1, "keys fetched once and cached");
    assert_eq!(attempt(&e).await.status, 302);
    assert_eq!(e.op.jwks_calls(), 1, "cached: no refetch for a known kid");

    // The OP rotates its signing key: an unknown kid triggers one refetch, then it verifies.
    e.op.rotate_key();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // jwks_min_refetch_secs = 1 in tests
    let r = attempt(&e).await;
    assert_eq!(
        r.status, 302,
        "rotated key accepted after refetch: {}",
        r.body
    );
    assert_eq!(e.op.jwks_calls(), 2);

    // Tokens with unknown kids cannot make the gateway hammer the OP's JWKS endpoint.
    e.op.set_forge(Forge::UnknownKid);
    for _ in 0..5 {
        assert_eq!(attempt(&e).await.status, 400);
    }
    assert!(
        e.op.jwks_calls() <= 3,
        "refetches are rate-limited: {}",
        e.op.jwks_calls()
    );
}
