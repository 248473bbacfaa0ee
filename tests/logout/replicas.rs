//! Every replica: pub/sub feeds the revocation cache; a late replica rebuilds from tombstones.

use sso_integration_tests::world::{login, World};
use sso_integration_tests::Browser;

use crate::{auth_with_cookies, eventually};

#[tokio::test]
async fn op_admin_logout_reaches_every_replica_and_late_starters() {
    let w = World::start(Default::default());
    let replica = w.replica_of_a();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    login(&b, &w.b, "alice", "alice-password").await;
    let a = b.jar.cookies_for(&w.a.app_url());
    let at_only = sso_integration_tests::world::access_cookies_only(&b, &w.a);
    assert_eq!(auth_with_cookies(&replica, &at_only).await.status, 200);

    // the OP ends the session on its own, no browser involved
    let res = w.op.admin_logout("alice").await;
    sso_integration_tests::world::assert_backchannel_delivered(&res, &["gw-a"]);

    // replica 2 rejects the still-unexpired access token (it never saw the logout call)
    assert!(
        eventually(3, || async {
            auth_with_cookies(&replica, &at_only).await.status == 401
        })
        .await
    );
    // both domains show signed out on the next request
    assert_eq!(auth_with_cookies(&w.a, &a).await.status, 401);
    let bc = b.jar.cookies_for(&w.b.app_url());
    assert_eq!(auth_with_cookies(&w.b, &bc).await.status, 401);

    // a replica started after the event rejects it too (rebuilt from the tombstones)
    // (immediately: before its cache is built it asks the store, failing closed)
    let late = w.replica_of_a();
    assert_eq!(auth_with_cookies(&late, &at_only).await.status, 401);
    assert!(eventually(3, || async { late.gw.revocations().cache().is_ready() }).await);
    assert_eq!(auth_with_cookies(&late, &at_only).await.status, 401);
}

#[tokio::test]
async fn resubscribe_after_redis_reconnect_rebuilds_from_tombstones() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let a = b.jar.cookies_for(&w.a.app_url());
    assert!(eventually(3, || async { w.a.gw.revocations().cache().is_ready() }).await);
    assert_eq!(auth_with_cookies(&w.a, &a).await.status, 200);

    // A tombstone the replica never hears about on the channel (written while it was
    // disconnected), then the pub/sub connection drops.
    let client = redis::Client::open(w.redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sso:sess:*")
        .query_async(&mut c)
        .await
        .unwrap();
    let sid: String = redis::cmd("HGET")
        .arg(&keys[0])
        .arg("sid")
        .query_async(&mut c)
        .await
        .unwrap();
    let json = serde_json::json!({"kind": "sid", "sid": sid}).to_string();
    let _: () = redis::cmd("SET")
        .arg(format!("sso:revoked:{{{sid}}}"))
        .arg(&json)
        .arg("EX")
        .arg(600)
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("sso:revoked:index")
        .arg(4_000_000_000i64)
        .arg(&json)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        auth_with_cookies(&w.a, &a).await.status,
        200,
        "not heard on the channel yet"
    );
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut c)
        .await
        .unwrap();

    assert!(
        eventually(5, || async {
            auth_with_cookies(&w.a, &a).await.status == 401
        })
        .await,
        "rebuilt from the tombstones after resubscribing"
    );
}
