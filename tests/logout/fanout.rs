//! Every root domain: durable fan-out to a peer that was down, and the signed
//! cookie-clearing chain.

use sso_core::federation::{forward_msg, Purpose};
use sso_integration_tests::world::{
    login, sign_as_peer, submit_op_logout, urlencode, World, FED_KEY, FED_KID,
};
use sso_integration_tests::Browser;

use crate::{auth_with_cookies, eventually, session_keys};

#[tokio::test]
async fn peer_down_during_logout_gets_it_when_back() {
    let mut w = World::start_federated();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let b_cookies = b.jar.cookies_for(&w.b.app_url());
    let redis_b = w.redis_b.as_ref().unwrap().url();
    assert_eq!(session_keys(&redis_b).await.len(), 1);

    w.stop_b();
    // the OP tells A (and fails to reach B)
    w.op.admin_logout("alice").await;
    assert!(session_keys(&w.redis.url()).await.is_empty());
    let metrics = Browser::new().get(&w.a.url("/metrics")).await.body;
    let depth = metrics
        .lines()
        .find(|l| l.starts_with("sso_fanout_queue_depth{peer=\"http://auth.b.localhost"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(depth, Some(1), "one logout token waits for B: {metrics}");
    assert!(metrics.contains("sso_fanout_lag_seconds{peer=\"http://auth.b.localhost"));
    assert_eq!(
        session_keys(&redis_b).await.len(),
        1,
        "B's state untouched while down"
    );

    // what A queued for B (to replay it later)
    let queued = stream_entries(
        &w.redis.url(),
        &format!("sso:fanout:http://auth.b.localhost:{}", w.b.port),
    )
    .await;
    assert_eq!(queued.len(), 1, "{queued:?}");

    w.op.reset_stats().await;
    w.restart_b();
    assert!(
        eventually(15, || async { session_keys(&redis_b).await.is_empty() }).await,
        "B's session dies after it comes back"
    );
    assert_eq!(
        w.op.stats().await["backchannel"].as_array().unwrap().len(),
        0,
        "no new call from the OP"
    );
    let r = auth_with_cookies(&w.b, &b_cookies).await;
    assert_eq!(r.status, 401);
    // the queue for B drains to zero
    assert!(
        eventually(5, || async {
            let m = Browser::new().get(&w.a.url("/metrics")).await.body;
            m.lines().any(|l| {
                l.starts_with("sso_fanout_queue_depth{peer=\"http://auth.b.localhost:")
                    && l.ends_with("} 0")
            })
        })
        .await,
        "fan-out queue drained"
    );
    // B accepted the forwarded token but never forwards it again (nothing queued for A)
    let to_a = format!("sso:fanout:http://auth.a.localhost:{}", w.a.port);
    assert_eq!(
        entries_added(&redis_b, &to_a).await,
        0,
        "a forwarded token is never forwarded again"
    );
    // and the same forwarded token a second time is a jti replay: already applied, 200
    // (queued unsigned: A signs at delivery time, with the key it shares with B)
    assert!(queued[0]
        .iter()
        .all(|(k, _)| k == "token" || k == "received_at"));
    let field = |name: &str| queued[0].iter().find(|(k, _)| k == name).unwrap().1.clone();
    let (token, t) = (field("token"), field("received_at"));
    let s = sign_as_peer(
        &w.b.base(),
        FED_KID,
        FED_KEY,
        Purpose::Forward,
        &forward_msg(t.parse().unwrap(), &token),
    );
    let form = [
        ("logout_token", token.as_str()),
        ("received_at", &t),
        ("federation_kid", &s.kid),
        ("federation_mac", &s.tag),
        ("forwarded", "1"),
    ];
    let r = Browser::new()
        .post_form(&w.b.url("/sso/backchannel-logout"), &form, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Entries of a stream as field lists.
async fn stream_entries(redis_url: &str, key: &str) -> Vec<Vec<(String, String)>> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            e.map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value::<String>(v).unwrap()))
                .collect()
        })
        .collect()
}

/// How many entries were ever added to a stream (0 when it does not exist).
async fn entries_added(redis_url: &str, key: &str) -> i64 {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let info: redis::RedisResult<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query_async(&mut c)
            .await;
    match info {
        Ok(m) => redis::from_redis_value(m.get("entries-added").unwrap()).unwrap(),
        Err(_) => 0, // no such key
    }
}

#[tokio::test]
async fn logout_delivered_by_the_op_and_by_the_peer_ends_cleanly() {
    let w = World::start_federated();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    w.op.admin_logout("alice").await;
    // both die; each gateway queued the OP's token once for its peer, and the peer's copy
    // (a jti replay there) was dropped: no queue keeps anything
    assert!(
        eventually(10, || async {
            session_keys(w.redis_b.as_ref().unwrap().url().as_str())
                .await
                .is_empty()
        })
        .await
    );
    let to_b = format!("sso:fanout:http://auth.b.localhost:{}", w.b.port);
    let to_a = format!("sso:fanout:http://auth.a.localhost:{}", w.a.port);
    // wait for the condition: both directions delivered (each stream got its entry and
    // holds nothing undelivered), then count what was ever added
    let drained = |url: String, key: String| async move {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let len: i64 = redis::cmd("XLEN")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap_or(-1);
        entries_added(&url, &key).await >= 1 && len == 0
    };
    assert!(
        eventually(10, || async {
            drained(w.redis.url(), to_b.clone()).await
                && drained(w.redis_b.as_ref().unwrap().url(), to_a.clone()).await
        })
        .await,
        "fan-out queues drained"
    );
    assert_eq!(entries_added(&w.redis.url(), &to_b).await, 1);
    assert_eq!(
        entries_added(&w.redis_b.as_ref().unwrap().url(), &to_a).await,
        1
    );
    for g in [&w.a, &w.b] {
        let m = Browser::new().get(&g.url("/metrics")).await.body;
        let depth: Vec<&str> = m
            .lines()
            .filter(|l| l.starts_with("sso_fanout_queue_depth{"))
            .collect();
        assert!(depth.iter().all(|l| l.ends_with(" 0")), "{depth:?}");
    }
}

#[tokio::test]
async fn logout_chain_clears_peer_cookies_without_iframes() {
    let w = World::start_federated();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let rd = w.a.app_url();
    let r = b
        .get(&format!("{}?rd={}", w.a.url("/sso/logout"), urlencode(&rd)))
        .await;
    let hop = r.location().unwrap();
    assert_eq!(
        hop.host_str(),
        Some("auth.b.localhost"),
        "first hop is the peer: {hop}"
    );
    assert_eq!(hop.path(), "/sso/logout/clear");
    // tampered chain tokens are refused
    let mut bad = hop.clone();
    let t: String = hop
        .query_pairs()
        .find(|(k, _)| k == "t")
        .unwrap()
        .1
        .into_owned();
    bad.query_pairs_mut()
        .clear()
        .append_pair("t", &format!("{}x", t))
        .append_pair("i", "0");
    assert_eq!(Browser::new().get(bad.as_str()).await.status, 400);
    // the real hop clears B's cookies and goes on to the OP
    let r = b.get(hop.as_str()).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(r
        .set_cookie("sso_rt")
        .unwrap()
        .contains("Domain=b.localhost"));
    assert!(r.location().unwrap().as_str().starts_with(&w.op.issuer));
    assert!(
        b.jar.cookies_for(&w.b.app_url()).is_empty(),
        "B's cookies gone at once"
    );
    // single use
    assert_eq!(b.get(hop.as_str()).await.status, 400);
    let hops = b.follow(r.location().unwrap().as_str(), |_| false).await;
    let hops = submit_op_logout(&b, hops.last().unwrap(), |u| {
        u.host_str() == Some("app1.a.localhost")
    })
    .await;
    assert_eq!(hops.last().unwrap().location().unwrap().as_str(), rd);
}

/// A peer the OP never tells (gw-b registered without a back-channel URI): B learns of the
/// logout only through A's fan-out, and refuses the token. The test OP (like oidc-provider)
/// puts no `sid` in the ID tokens of such a client, so B's session has none and cannot be
/// matched by the forwarded token's `sid`: it ends as a sid-less session of that subject.
#[tokio::test]
async fn a_peer_the_op_never_tells_learns_the_logout_through_fan_out() {
    let w = World::start_split(
        sso_integration_tests::OpOptions {
            without_backchannel: vec!["gw-b".into()],
            ..Default::default()
        },
        |o| {
            let f = World::fanout_toml(o, true);
            o.extra.push_str(&f);
        },
    );
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let b_cookies = b.jar.cookies_for(&w.b.app_url());
    let at_only: std::collections::HashMap<String, String> = b_cookies
        .iter()
        .filter(|(k, _)| k.starts_with("sso_at"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(auth_with_cookies(&w.b, &at_only).await.status, 200);
    let res = w.op.admin_logout("alice").await;
    assert!(
        !res.to_string().contains("gw-b"),
        "the OP told only A: {res}"
    );
    assert!(
        eventually(10, || async {
            auth_with_cookies(&w.b, &at_only).await.status == 401
        })
        .await,
        "B refuses the token: {:?}",
        session_keys(w.redis_b.as_ref().unwrap().url().as_str()).await
    );
}

/// A fault must not lose a logout queued for a peer (issue 8). While B is down, A queues a
/// logout from the OP (a forwarded token) and an operator's revocation (a federation
/// message) for it; then A's Redis restarts empty, and the queue with them. The replica
/// that queued them still holds them: it finds its guard key gone, queues them again, and
/// B gets both when it is back.
#[tokio::test]
async fn queued_logouts_survive_the_queueing_store_restarting_empty() {
    let mut w = World::start_split(Default::default(), |o| {
        let f = World::fanout_toml(o, true);
        o.extra.push_str(&f);
        o.extra
            .push_str(&format!("[admin]\ntoken = \"{}\"\n", crate::admin::TOKEN));
    });
    let (alice, bob) = (Browser::new(), Browser::new());
    for g in [&w.a, &w.b] {
        login(&alice, g, "alice", "alice-password").await;
        login(&bob, g, "bob", "bob-password").await;
    }
    let alice_b = alice.jar.cookies_for(&w.b.app_url());
    let bob_b = bob.jar.cookies_for(&w.b.app_url());

    w.stop_b();
    w.op.admin_logout("bob").await;
    let r = Browser::new()
        .post_form(
            &w.a.url("/sso/admin/sessions/revoke"),
            &[("sub", sso_integration_tests::world::ALICE_SUB)],
            &[
                ("Authorization", &format!("Bearer {}", crate::admin::TOKEN)),
                ("Accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let to_b = format!("sso:fanout:http://auth.b.localhost:{}", w.b.port);
    assert_eq!(stream_entries(&w.redis.url(), &to_b).await.len(), 2);

    w.redis.restart_empty();
    assert_eq!(stream_entries(&w.redis.url(), &to_b).await.len(), 0);
    w.restart_b();
    assert!(
        eventually(25, || async {
            auth_with_cookies(&w.b, &alice_b).await.status == 401
                && auth_with_cookies(&w.b, &bob_b).await.status == 401
        })
        .await,
        "both logouts reach B though the store that queued them lost them"
    );
    let metrics = Browser::new().get(&w.a.url("/metrics")).await.body;
    assert!(
        metrics.contains("sso_fanout_requeued_total 2"),
        "A says it queued them again: {metrics}"
    );
}
