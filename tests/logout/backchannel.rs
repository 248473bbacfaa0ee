//! `POST /sso/backchannel-logout`: one test token per BCL 1.0 §2.6 rule.

use serde_json::{json, Value};
use sso_integration_tests::hostile_op::SignWith;
use sso_integration_tests::world::EvilWorld;
use sso_integration_tests::Browser;

use crate::{auth, session_keys};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

type Env = EvilWorld;

fn env() -> Env {
    EvilWorld::start()
}

async fn login(e: &Env) -> Browser {
    let b = Browser::new();
    assert_eq!(e.attempt_login(&b).await.status, 302);
    b
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(e: &Env, jti: &str) -> Value {
    json!({"iss": e.op.issuer(), "aud": "gw-a", "iat": now(), "exp": now() + 120, "jti": jti,
           "sub": "evil-user", "sid": "evil-sid", "events": {EVENT: {}}})
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "logout+jwt", "kid": "good-key"})
}

async fn post(e: &Env, token: &str) -> sso_integration_tests::browser::Resp {
    Browser::new()
        .post_form(
            &e.gw.url("/sso/backchannel-logout"),
            &[("logout_token", token)],
            &[],
        )
        .await
}

#[tokio::test]
async fn every_invalid_logout_token_is_refused_with_400_json() {
    let e = env();
    let b = login(&e).await;
    assert_eq!(auth(&b, &e.gw).await.status, 200);
    let mut n = 0;
    let mut jti = || {
        n += 1;
        format!("jti-{n}")
    };
    let with = |mut c: Value, k: &str, v: Value| {
        c[k] = v;
        c
    };
    let without = |mut c: Value, k: &str| {
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("bad signature", e.op.sign(header(), claims(&e, &jti()), SignWith::Rogue)),
        ("unknown kid", e.op.sign(json!({"alg": "RS256", "typ": "logout+jwt", "kid": "nope"}), claims(&e, &jti()), SignWith::Rogue)),
        ("alg none", e.op.sign(json!({"alg": "none", "typ": "logout+jwt"}), claims(&e, &jti()), SignWith::None)),
        ("HS256 with the public key", e.op.sign(json!({"alg": "HS256", "typ": "logout+jwt", "kid": "good-key"}), claims(&e, &jti()), SignWith::HsPublicPem)),
        ("wrong iss", e.op.sign(header(), with(claims(&e, &jti()), "iss", json!("http://127.0.0.1:1/realms/x")), SignWith::Good)),
        ("aud without our client", e.op.sign(header(), with(claims(&e, &jti()), "aud", json!(["gw-b", "other"])), SignWith::Good)),
        ("missing events", e.op.sign(header(), without(claims(&e, &jti()), "events"), SignWith::Good)),
        ("events without the member", e.op.sign(header(), with(claims(&e, &jti()), "events", json!({"http://example.com/other": {}})), SignWith::Good)),
        ("nonce present", e.op.sign(header(), with(claims(&e, &jti()), "nonce", json!("n")), SignWith::Good)),
        ("neither sid nor sub", e.op.sign(header(), without(without(claims(&e, &jti()), "sid"), "sub"), SignWith::Good)),
        ("iat in the future", e.op.sign(header(), with(claims(&e, &jti()), "iat", json!(now() + 3600)), SignWith::Good)),
        ("exp passed", e.op.sign(header(), with(with(claims(&e, &jti()), "exp", json!(now() - 600)), "iat", json!(now() - 720)), SignWith::Good)),
        ("access token typ", e.op.sign(json!({"alg": "RS256", "typ": "at+jwt", "kid": "good-key"}), claims(&e, &jti()), SignWith::Good)),
        ("ID token posted", e.op.sign(json!({"alg": "RS256", "typ": "JWT", "kid": "good-key"}),
            json!({"iss": e.op.issuer(), "aud": "gw-a", "iat": now(), "exp": now() + 300, "sub": "evil-user", "sid": "evil-sid", "nonce": "x", "azp": "gw-a"}), SignWith::Good)),
        ("missing jti", e.op.sign(header(), without(claims(&e, &jti()), "jti"), SignWith::Good)),
        ("not a JWT", "not-a-jwt".to_string()),
        ("empty", String::new()),
    ];
    for (what, token) in &cases {
        let r = post(&e, token).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        let j = r.json();
        assert_eq!(j["error"], "invalid_request", "{what}");
        // the rule that fired is the one the case is about (BCL 1.0 §2.6 steps 1-7)
        let rule = match *what {
            "bad signature" => "signature does not verify",
            "unknown kid" => "no published key matches",
            "alg none" => "\"none\" is not allowed",
            "HS256 with the public key" => "\"HS256\" is not allowed",
            "wrong iss" => "issuer",
            "aud without our client" => "audience",
            "missing events" | "events without the member" | "ID token posted" => {
                "back-channel logout event"
            }
            "nonce present" => "nonce",
            "neither sid nor sub" => "neither sid nor sub",
            "iat in the future" => "issued in the future",
            "exp passed" => "expired",
            "access token typ" => "is not a logout token",
            "missing jti" => "claim jti",
            "not a JWT" => "not a compact JWS",
            "empty" => "no logout_token",
            other => panic!("no expected rule for case {other:?}"),
        };
        let desc = j["error_description"].as_str().unwrap();
        assert!(desc.contains(rule), "{what}: {desc:?} should name {rule:?}");
        assert_eq!(
            session_keys(&e.redis.url()).await.len(),
            1,
            "{what} must not end the session"
        );
    }
    assert_eq!(auth(&b, &e.gw).await.status, 200, "still signed in");
    // wrong method
    let r = Browser::new()
        .get(&e.gw.url("/sso/backchannel-logout"))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    // no logout_token at all
    let r = Browser::new()
        .post_form(&e.gw.url("/sso/backchannel-logout"), &[("x", "y")], &[])
        .await;
    assert_eq!(r.status, 400);

    // a valid token ends the session; the still-unexpired access token is refused at once
    let good = e.op.sign(header(), claims(&e, "valid-1"), SignWith::Good);
    let r = post(&e, &good).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert!(session_keys(&e.redis.url()).await.is_empty());
    let r = auth(&b, &e.gw).await;
    assert_eq!(r.status, 401);
    assert!(
        r.set_cookie("sso_at").unwrap().contains("Max-Age=0"),
        "stale cookies cleared"
    );
    // replayed jti: already applied, so 200 (an idempotent retry) and nothing else happens
    let r = post(&e, &good).await;
    assert_eq!(r.status, 200, "replay: {}", r.body);
}

#[tokio::test]
async fn legacy_typ_unknown_session_and_sub_only() {
    let e = env();
    // older Keycloak: typ JWT or none
    for (i, h) in [
        json!({"alg": "RS256", "typ": "JWT", "kid": "good-key"}),
        json!({"alg": "RS256", "kid": "good-key"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = claims(&e, &format!("legacy-{i}"));
        c["sid"] = json!(format!("unknown-sid-{i}"));
        let r = post(&e, &e.op.sign(h, c, SignWith::Good)).await;
        assert_eq!(
            r.status, 200,
            "unknown session is still success: {}",
            r.body
        );
    }
    // sub only: every session of the subject ends
    let b1 = login(&e).await;
    let b2 = login(&e).await;
    assert_eq!(session_keys(&e.redis.url()).await.len(), 2);
    let mut c = claims(&e, "sub-only");
    c.as_object_mut().unwrap().remove("sid");
    let r = post(&e, &e.op.sign(header(), c, SignWith::Good)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(session_keys(&e.redis.url()).await.is_empty());
    assert_eq!(auth(&b1, &e.gw).await.status, 401);
    assert_eq!(auth(&b2, &e.gw).await.status, 401);
    // and a new login right after works (one in the logout's second waits for the next
    // second and refreshes once: it never creates a session that is already revoked)
    let b3 = login(&e).await;
    assert_eq!(auth(&b3, &e.gw).await.status, 200);
}

#[tokio::test]
async fn revoke_offline_access_ends_every_session_of_the_user() {
    let e = env();
    let b1 = login(&e).await;
    let mut c = claims(&e, "offline");
    c["sid"] = json!("some-other-sid");
    c["events"] = json!({EVENT: {"revoke_offline_access": true}});
    let r = post(&e, &e.op.sign(header(), c, SignWith::Good)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(session_keys(&e.redis.url()).await.is_empty());
    assert_eq!(auth(&b1, &e.gw).await.status, 401);
}

#[tokio::test]
async fn success_only_after_redis_holds_the_result() {
    let e = env();
    let token =
        e.op.sign(header(), claims(&e, "redis-down"), SignWith::Good);
    let EvilWorld { op: _op, gw, redis } = e;
    drop(redis);
    let r = Browser::new()
        .post_form(
            &gw.url("/sso/backchannel-logout"),
            &[("logout_token", token.as_str())],
            &[],
        )
        .await;
    assert_eq!(
        r.status, 503,
        "never 200 when the logout could not be stored: {}",
        r.body
    );
    assert_eq!(r.json()["error"], "temporarily_unavailable");
}
