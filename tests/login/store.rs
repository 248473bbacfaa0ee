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
    // A fan-out guard lives in its stream's slot, so a shard that loses the stream loses
    // the guard too and the replica queues its outbox again.
    let slot = |key: &str| cluster.cli(&["CLUSTER", "KEYSLOT", key]);
    for peer in ["https://auth.b.com", "http://auth.b.localhost:18082"] {
        let stream = sso_core::store::keys::fanout(peer);
        assert_eq!(
            slot(&stream),
            slot(&sso_core::store::keys::fanout_guard(peer, "replica1")),
            "{stream}"
        );
        assert!(!slot(&stream).is_empty());
    }
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
    // READONLY / a dropped connection). Until then a write can still land on the old master
    // (Sentinel demotes it a moment later): wait for the condition itself, a write that
    // reaches the new master, with fresh keys so an early write cannot fake it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let key = format!("sso:state:{{after-failover-{n}}}");
        if let Ok(true) = store.mark_once(&key, 600).await {
            if s.cli(s.replica_port, &["exists", &key]).trim() == "1" {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "writes never reached the new master"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !store.mark_once(mark, 600).await.unwrap(),
        "replicated mark survives"
    );
    sso_core::store::acceptance::run(&store).await;
}
