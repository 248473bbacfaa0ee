//! The Rust resource-server extractor (`sso_actix::Authenticated`) on a sibling
//! subdomain: joined `sso_at` or Bearer, cached JWKS, and the revocation cache fed from the
//! gateways' Redis so a logout is refused at once.

use std::sync::Arc;

use actix_web::{test, web, App, HttpResponse};
use sso_actix::{Authenticated, ResourceServer};
use sso_core::store::redis::RedisStore;
use sso_integration_tests::world::{eventually, login, World};
use sso_integration_tests::{Browser, OpOptions};

async fn me(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"sub": who.0.sub, "user": who.0.preferred_username}))
}

#[actix_rt::test]
async fn extractor_reads_cookies_or_bearer_and_follows_revocations() {
    let w = World::start(OpOptions {
        big_roles: Some(150),
        ..Default::default()
    });
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let jar = b.jar.cookies_for(&w.a.app_url());
    assert!(jar.contains_key("sso_at.1"), "chunked token");

    let rs = ResourceServer::new(&w.op.issuer, vec!["RS256".into()], vec!["gw-a".into()]).unwrap();
    rs.follow_revocations(Arc::new(RedisStore::connect(&w.redis.url()).await.unwrap()));
    let rs = web::Data::new(rs);
    let app = test::init_service(
        App::new()
            .app_data(rs.clone())
            .route("/me", web::get().to(me)),
    )
    .await;

    let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cookie = cookie.join("; ");
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Cookie", cookie.as_str()))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(body["user"], "alice");

    // Bearer works too; the first chunk alone does not
    let token: String = (0..16)
        .map_while(|i| {
            jar.get(&if i == 0 {
                "sso_at".to_string()
            } else {
                format!("sso_at.{i}")
            })
            .cloned()
        })
        .collect();
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 200);
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Cookie", format!("sso_at={}", jar["sso_at"])))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 401);
    let req = test::TestRequest::get().uri("/me").to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));

    // the OP ends the session: the still-valid token is refused here at once
    assert!(eventually(3, || async { rs.revocations.is_ready() }).await);
    w.op.admin_logout("alice").await;
    let ok = eventually(3, || async {
        let req = test::TestRequest::get()
            .uri("/me")
            .insert_header(("Cookie", cookie.as_str()))
            .to_request();
        test::call_service(&app, req).await.status() == 401
    })
    .await;
    assert!(ok, "revoked token refused by the resource server");
}

/// Issue 8 item 9: following the gateways' revocations, the resource server fails closed
/// (503) while its cache was never built and the store does not answer, instead of
/// accepting every token.
#[actix_rt::test]
async fn fails_closed_before_its_revocation_cache_is_built() {
    let w = World::start(Default::default());
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let jar = b.jar.cookies_for(&w.a.app_url());
    let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cookie = cookie.join("; ");
    // Redis through a relay that goes silent right after the connection is made
    let relay = sso_integration_tests::Relay::start(w.redis.port);
    let store = RedisStore::connect(&relay.url()).await.unwrap();
    relay.blackhole_all();
    let rs = ResourceServer::new(&w.op.issuer, vec!["RS256".into()], vec!["gw-a".into()]).unwrap();
    rs.follow_revocations(Arc::new(store));
    let rs = web::Data::new(rs);
    let app = test::init_service(
        App::new()
            .app_data(rs.clone())
            .route("/me", web::get().to(me)),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Cookie", cookie.as_str()))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 503, "fail closed");
    assert!(!rs.revocations.was_built());
    // the store answers again: built, and the token is accepted
    relay.heal();
    let ok = eventually(20, || async {
        let req = test::TestRequest::get()
            .uri("/me")
            .insert_header(("Cookie", cookie.as_str()))
            .to_request();
        test::call_service(&app, req).await.status() == 200
    })
    .await;
    assert!(ok, "accepted once the store answers");
}
