//! Per-peer federation keys (issue 10 item 3): every message between peers is MAC'd with
//! the key its kid names, which belongs to one peer; a peer cannot sign for another, an
//! unknown kid is refused, and during a rotation both listed keys are accepted.
//!
//! Gateways A and B share `ab-1`; B also shares `bc-1` with a third gateway C, played by
//! the test (it signs with sso-core's own code and C's key).

use serde_json::json;
use sso_core::federation::{admin_msg, forward_msg, Purpose, Signed};
use sso_core::logout::chain::{seal_link, Chain};
use sso_integration_tests::hostile_op::{HostileOp, SignWith};
use sso_integration_tests::world::{
    bind, login, sign_as_peer, urlencode, World, ALICE_SUB, FED_KEY, FED_KID,
};
use sso_integration_tests::{Browser, GatewayHandle, GatewayOptions, Redis};

use crate::{auth_with_cookies, eventually, session_keys};

/// The key B shares with C (C is not running: the test signs as C).
const C_KID: &str = "bc-1";
const C_KEY: &str = "Yy1zaGFyZXMtdGhpcy13aXRoLWItYy1zaGFyZXMtdGhpcy13aXRoLWI=";
const C_URL: &str = "http://auth.c.localhost:9";
/// A-B's next key (rotation).
const NEW_KID: &str = "ab-2";
const NEW_KEY: &str = "bmV3LWZlZGVyYXRpb24ta2V5LW5ldy1mZWRlcmF0aW9uLWtleS1uZXctZmVk";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A and B peered with `ab-1`; B also peers with C.
fn three_peers() -> World {
    World::start_split(Default::default(), |o| {
        let mut f = World::fanout_toml(o, true);
        if o.domain == "b" {
            f.push_str(&World::extra_peer_toml(C_URL, &[(C_KID, C_KEY)]));
        }
        o.extra.push_str(&f);
    })
}

async fn revoke_at(g: &GatewayHandle, sub: &str, at: i64, s: &Signed) -> u16 {
    Browser::new()
        .post_form(
            &g.url("/sso/federation/revoke"),
            &[
                ("sub", sub),
                ("received_at", &at.to_string()),
                ("federation_kid", &s.kid),
                ("federation_mac", &s.tag),
            ],
            &[],
        )
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn a_revocation_is_accepted_only_with_the_key_its_kid_names() {
    let w = three_peers();
    let b = Browser::new();
    login(&b, &w.b, "alice", "alice-password").await;
    let at_b = b.jar.cookies_for(&w.b.app_url());
    let redis_b = w.redis_b.as_ref().unwrap().url();
    let at = now();
    let msg = admin_msg(&w.op.issuer, ALICE_SUB, at);
    let to_b = w.b.base();
    // C signs with its own key but claims A's kid: refused
    let mut forged = sign_as_peer(&to_b, C_KID, C_KEY, Purpose::Admin, &msg);
    forged.kid = FED_KID.into();
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &forged).await, 403);
    // C holding a key under A's kid (C never has it; a guess): refused
    let guessed = sign_as_peer(&to_b, FED_KID, C_KEY, Purpose::Admin, &msg);
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &guessed).await, 403);
    // a kid B does not know, whatever the key: refused
    let unknown = sign_as_peer(&to_b, "zz-9", FED_KEY, Purpose::Admin, &msg);
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &unknown).await, 403);
    // A's real key, but made for another gateway (C): refused at B
    let elsewhere = sign_as_peer(C_URL, FED_KID, FED_KEY, Purpose::Admin, &msg);
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &elsewhere).await, 403);
    // C's real key for another purpose (a forwarded-logout MAC): refused
    let purpose = sign_as_peer(&to_b, C_KID, C_KEY, Purpose::Forward, &msg);
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &purpose).await, 403);
    assert_eq!(session_keys(&redis_b).await.len(), 1, "nothing applied");
    assert_eq!(auth_with_cookies(&w.b, &at_b).await.status, 200);
    // C's real key under C's kid: accepted (C may revoke; B knows it was C)
    let real = sign_as_peer(&to_b, C_KID, C_KEY, Purpose::Admin, &msg);
    assert_eq!(revoke_at(&w.b, ALICE_SUB, at, &real).await, 200);
    assert!(session_keys(&redis_b).await.is_empty());
    assert_eq!(auth_with_cookies(&w.b, &at_b).await.status, 401);
}

#[tokio::test]
async fn a_forwarded_logout_with_a_bad_kid_or_mac_is_refused() {
    let redis = Redis::start();
    let op = HostileOp::start("gw-a");
    let mut o = GatewayOptions::new("a", &op.issuer(), Some(redis.url()));
    o.extra.push_str(&format!(
        "[fanout]\naccepted_audiences = [\"gw-a\", \"gw-b\"]\n{}{}",
        World::extra_peer_toml("http://auth.b.localhost:9", &[(FED_KID, FED_KEY)]),
        World::extra_peer_toml(C_URL, &[("ac-1", C_KEY)]),
    ));
    let gw = GatewayHandle::start(bind().0, &o);
    let token = |jti: &str| {
        op.sign(
            json!({"alg": "RS256", "typ": "logout+jwt", "kid": "good-key"}),
            json!({"iss": op.issuer(), "aud": "gw-b", "iat": now(), "exp": now() + 120,
                   "jti": jti, "sub": "someone", "sid": "some-sid",
                   "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
            SignWith::Good,
        )
    };
    let forward = |token: String, kid: &str, key: &str| {
        let t = now();
        let s = sign_as_peer(
            &gw.base(),
            kid,
            key,
            Purpose::Forward,
            &forward_msg(t, &token),
        );
        let url = gw.url("/sso/backchannel-logout");
        async move {
            Browser::new()
                .post_form(
                    &url,
                    &[
                        ("logout_token", token.as_str()),
                        ("forwarded", "1"),
                        ("received_at", &t.to_string()),
                        ("federation_kid", &s.kid),
                        ("federation_mac", &s.tag),
                    ],
                    &[],
                )
                .await
        }
    };
    let applied = |jti: &str| {
        let (url, key) = (redis.url(), format!("sso:jti:{{gw-a:{jti}}}"));
        async move {
            let c = redis::Client::open(url).unwrap();
            let mut c = c.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
                == 1
        }
    };
    // C's key under B's kid, an unknown kid: 403, nothing applied
    let r = forward(token("t-1"), FED_KID, C_KEY).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = forward(token("t-2"), "zz-9", FED_KEY).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!applied("t-1").await && !applied("t-2").await);
    // B's kid and key, and C's: applied
    let r = forward(token("t-3"), FED_KID, FED_KEY).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = forward(token("t-4"), "ac-1", C_KEY).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(applied("t-3").await && applied("t-4").await);
}

/// What the OP's end-session endpoint is (a chain's `end`).
async fn end_session(issuer: &str) -> String {
    let meta = Browser::new()
        .get(&format!("{issuer}/.well-known/openid-configuration"))
        .await
        .json();
    meta["end_session_endpoint"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_peer_cannot_forge_a_chain_link_from_another_gateway() {
    let w = three_peers();
    let b = Browser::new();
    login(&b, &w.b, "alice", "alice-password").await;
    let end = end_session(&w.op.issuer).await;
    let chain = |from: &str| Chain {
        id: format!("forged-{from}"),
        from: from.to_string(),
        hops: vec![w.b.base()],
        end: end.clone(),
        exp: now() + 60,
        iss: w.op.issuer.clone(),
        sub: ALICE_SUB.into(),
        sid: None,
    };
    // C's keys as C holds them: peer B, kid bc-1
    let c_keys = |kid: &str| {
        let key =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, C_KEY).unwrap();
        sso_core::federation::FederationKeys::new(vec![sso_core::federation::PeerKeys {
            peer: url::Url::parse(&w.b.base()).unwrap(),
            keys: vec![sso_core::federation::FederationKey::new(kid, key)],
        }])
    };
    let hop = |t: &str| format!("{}?t={}&i=0", w.b.url("/sso/logout/clear"), urlencode(t));
    let a_origin = w.a.base();
    // C signs, with its own key, a link claiming to come from A: refused, nothing cleared
    let c = chain(&a_origin);
    let forged = seal_link(&c_keys(C_KID), &c).unwrap();
    let r = b.get(&hop(&forged)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.set_cookie("sso_rt").is_none(), "nothing cleared");
    // the same under A's kid: refused
    let forged = seal_link(&c_keys(FED_KID), &c).unwrap();
    assert_eq!(b.get(&hop(&forged)).await.status, 400);
    assert_eq!(
        session_keys(&w.redis_b.as_ref().unwrap().url()).await.len(),
        1
    );
    // C's own link (from C): accepted as C's, B's cookies cleared, on to the OP
    let own = seal_link(&c_keys(C_KID), &chain(C_URL)).unwrap();
    let r = b.get(&hop(&own)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(r.location().unwrap().as_str().starts_with(&w.op.issuer));
    assert!(session_keys(&w.redis_b.as_ref().unwrap().url())
        .await
        .is_empty());
}

#[tokio::test]
async fn rotation_accepts_both_keys_while_listed_and_refuses_the_old_after() {
    // Mid-rotation: A signs with the new key ab-2 (moved first), B still lists ab-1 first
    // and ab-2 second.
    let mut w = World::start_split(Default::default(), |o| {
        let other = if o.domain == "a" { "b" } else { "a" };
        let url = format!("http://auth.{other}.localhost:{}", o.peer_port.unwrap());
        let keys: &[(&str, &str)] = if o.domain == "a" {
            &[(NEW_KID, NEW_KEY), (FED_KID, FED_KEY)]
        } else {
            &[(FED_KID, FED_KEY), (NEW_KID, NEW_KEY)]
        };
        o.extra.push_str(&format!(
            "[fanout]\naccepted_audiences = [\"gw-a\", \"gw-b\"]\nchain_binding = \"sub\"\n{}",
            World::extra_peer_toml(&url, keys)
        ));
    });
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let redis_b = w.redis_b.as_ref().unwrap().url();
    // A's chain link (tag made with ab-2) is accepted at B
    let r = b
        .get(&format!(
            "{}?rd={}",
            w.a.url("/sso/logout"),
            urlencode(&w.a.app_url())
        ))
        .await;
    let hop = r.location().unwrap();
    assert!(
        hop.query_pairs()
            .any(|(k, v)| k == "t" && v.contains(&format!(".{NEW_KID}:"))),
        "signed with the first key: {hop}"
    );
    let r = b.get(hop.as_str()).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(session_keys(&redis_b).await.is_empty());
    // an admin revocation queued at A is delivered, signed at delivery time with ab-2
    login(&b, &w.b, "alice", "alice-password").await;
    assert_eq!(session_keys(&redis_b).await.len(), 1);
    w.a.gw.revoke_subject(ALICE_SUB).await.unwrap();
    assert!(
        eventually(10, || async { session_keys(&redis_b).await.is_empty() }).await,
        "B accepted ab-2"
    );
    // and the old key still verifies at B while listed
    let (to_b, issuer) = (w.b.base(), w.op.issuer.clone());
    let sign = |kid: &str, key: &str, at: i64| {
        sign_as_peer(
            &to_b,
            kid,
            key,
            Purpose::Admin,
            &admin_msg(&issuer, "nobody", at),
        )
    };
    let at = now();
    assert_eq!(
        revoke_at(&w.b, "nobody", at, &sign(FED_KID, FED_KEY, at)).await,
        200
    );
    // the rotation finishes at B: only ab-2 left; ab-1 is refused, ab-2 still accepted
    w.b_opts.extra = w.b_opts.extra.replace(
        &format!("{{ id = \"{FED_KID}\", key = \"{FED_KEY}\" }}, "),
        "",
    );
    assert!(!w.b_opts.extra.contains(FED_KID), "{}", w.b_opts.extra);
    w.stop_b();
    w.restart_b();
    let at = now() - 1;
    assert_eq!(
        revoke_at(&w.b, "nobody", at, &sign(FED_KID, FED_KEY, at)).await,
        403
    );
    assert_eq!(
        revoke_at(&w.b, "nobody", at, &sign(NEW_KID, NEW_KEY, at)).await,
        200
    );
}

/// Entries queued by the shared-key version carry a `mac` and no kid: they are re-signed at
/// delivery with the pair's key, not lost and not parked.
#[tokio::test]
async fn entries_queued_by_the_shared_key_version_are_re_signed_at_delivery() {
    let w = World::start_federated();
    let b = Browser::new();
    login(&b, &w.b, "alice", "alice-password").await;
    let redis_b = w.redis_b.as_ref().unwrap().url();
    assert_eq!(session_keys(&redis_b).await.len(), 1);
    // what the old version queued for B: an admin revocation with a shared-key MAC
    let client = redis::Client::open(w.redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(format!("sso:fanout:{}", w.b.base()))
        .arg("*")
        .arg(&[
            ("kind", "admin"),
            ("sub", ALICE_SUB),
            ("received_at", &now().to_string()),
            ("mac", "c2hhcmVkLWtleS1tYWMtb2YtdGhlLW9sZC12ZXJzaW9u"),
        ])
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        eventually(10, || async { session_keys(&redis_b).await.is_empty() }).await,
        "the old entry was delivered, signed with ab-1"
    );
    let dead: i64 = redis::cmd("XLEN")
        .arg(format!("sso:fanout:dead:{}", w.b.base()))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(dead, 0);
}

/// A message queued before a rotation and delivered after it is signed with the key current
/// at delivery: B queues a revocation for A while A is down, the pair moves from ab-1 to ab-2
/// (ab-1 removed on both sides), and A still gets it.
#[tokio::test]
async fn a_message_queued_before_a_rotation_is_signed_with_the_key_current_at_delivery() {
    let mut w = World::start_federated();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let redis_a = w.redis.url();
    assert_eq!(session_keys(&redis_a).await.len(), 1);
    w.stop_a();
    w.b.gw.revoke_subject(ALICE_SUB).await.unwrap();
    // the rotation completes while the entry waits: only ab-2 on both sides
    let old = format!("{{ id = \"{FED_KID}\", key = \"{FED_KEY}\" }}");
    let new = format!("{{ id = \"{NEW_KID}\", key = \"{NEW_KEY}\" }}");
    w.a_opts.extra = w.a_opts.extra.replace(&old, &new);
    w.b_opts.extra = w.b_opts.extra.replace(&old, &new);
    assert!(w.b_opts.extra.contains(NEW_KID) && !w.b_opts.extra.contains(FED_KID));
    w.stop_b();
    w.restart_b();
    w.restart_a();
    assert!(
        eventually(20, || async { session_keys(&redis_a).await.is_empty() }).await,
        "A accepted the revocation queued before the rotation"
    );
    let dead: i64 = {
        let client = redis::Client::open(w.redis_b.as_ref().unwrap().url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("XLEN")
            .arg(format!("sso:fanout:dead:{}", w.a.base()))
            .query_async(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(dead, 0);
}
