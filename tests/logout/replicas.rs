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
    let at_only: std::collections::HashMap<String, String> = a
        .iter()
        .filter(|(k, _)| k.starts_with("sso_at"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(auth_with_cookies(&replica, &at_only).await.status, 200);

    // the OP ends the session on its own, no browser involved
    let res = w.op.admin_logout("alice").await;
    assert!(
        res.to_string().contains("200"),
        "back-channel delivered: {res}"
    );

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
    let late = w.replica_of_a();
    assert!(eventually(3, || async { late.gw.revocations.is_ready() }).await);
    assert_eq!(auth_with_cookies(&late, &at_only).await.status, 401);
}
