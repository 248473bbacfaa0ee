//! The store acceptance suite against a real redis-server.

use sso_core::store::redis::RedisStore;
use sso_core::store::SessionStore;
use sso_integration_tests::Redis;

#[tokio::test]
async fn redis_store_passes_acceptance_suite() {
    let redis = Redis::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    sso_core::store::acceptance::run(&store).await;
}

#[tokio::test]
async fn redis_down_is_an_error_not_a_panic() {
    let mut redis = Redis::start();
    let url = redis.url();
    let store = RedisStore::connect(&url).await.unwrap();
    drop(std::mem::replace(&mut redis, Redis::start()));
    let r = store
        .get_session(&sso_core::secret::SessionId::new("x"))
        .await;
    assert!(
        matches!(r, Err(sso_core::store::StoreError::Unavailable(_))),
        "{r:?}"
    );
}

#[tokio::test]
async fn redis_cluster_store_passes_acceptance_suite() {
    let cluster = sso_integration_tests::RedisCluster::start(3);
    let store = RedisStore::connect_cluster(&cluster.urls()).await.unwrap();
    sso_core::store::acceptance::run(&store).await;
}

#[tokio::test]
async fn redis_sentinel_store_passes_acceptance_suite_and_survives_failover() {
    use sso_integration_tests::RedisSentinel;
    let s = RedisSentinel::start();
    let store = RedisStore::connect_sentinel(&s.sentinel_urls(), RedisSentinel::MASTER)
        .await
        .unwrap();
    sso_core::store::acceptance::run(&store).await;

    let mark = "sso:state:{before-failover}";
    assert!(store.mark_once(mark, 600).await.unwrap());
    s.failover();
    assert_eq!(s.current_master(), s.replica_port);
    // Writes follow Sentinel to the new master within its 1 s re-check (or at once on
    // READONLY / a dropped connection); data written before the failover is still there.
    // wait for the condition itself: a write that lands (an error or READONLY while the
    // store still points at the old master makes it try again)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(true) = store.mark_once("sso:state:{after-failover}", 600).await {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "writes never followed the failover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        s.cli(s.replica_port, &["exists", "sso:state:{after-failover}"])
            .trim()
            == "1",
        "written to the new master"
    );
    assert!(
        !store.mark_once(mark, 600).await.unwrap(),
        "replicated mark survives"
    );
    sso_core::store::acceptance::run(&store).await;
}
