use sso_integration_tests::world::{login, World};
use sso_integration_tests::Browser;

use crate::header;

fn world() -> World {
    World::start_with(Default::default(), |o| {
        let d = o.domain.clone();
        o.extra.push_str(&format!(
            "[cors]\nallowed_origins = [\"http://app1.{d}.localhost:9\"]\n"
        ));
    })
}

#[tokio::test]
async fn cors_allowed_disallowed_and_preflight() {
    let w = world();
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let allowed = "http://app1.a.localhost:9";
    let r = b
        .get_with(&w.a.url("/sso/session"), &[("Origin", allowed)])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "access-control-allow-origin").unwrap(), allowed);
    assert_eq!(
        header(&r, "access-control-allow-credentials").unwrap(),
        "true"
    );
    assert!(header(&r, "vary").unwrap().contains("Origin"));
    assert_eq!(r.json()["authenticated"], true);

    for evil in [
        "https://evil.com",
        "http://app1.a.localhost:9.evil.com",
        "null",
        "http://app1.a.localhost",
    ] {
        let r = b
            .get_with(&w.a.url("/sso/session"), &[("Origin", evil)])
            .await;
        assert!(
            header(&r, "access-control-allow-origin").is_none(),
            "{evil}"
        );
        assert!(
            header(&r, "access-control-allow-credentials").is_none(),
            "{evil}"
        );
    }

    let pre = b
        .request(
            reqwest::Method::OPTIONS,
            &w.a.url("/sso/refresh"),
            None,
            &[
                ("Origin", allowed),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
        .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        header(&pre, "access-control-allow-origin").unwrap(),
        allowed
    );
    assert!(header(&pre, "access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let pre = b
        .request(
            reqwest::Method::OPTIONS,
            &w.a.url("/sso/refresh"),
            None,
            &[
                ("Origin", "https://evil.com"),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
        .await;
    assert!(header(&pre, "access-control-allow-origin").is_none());
    assert_ne!(pre.status, 204);

    // an allowed origin may POST /sso/refresh with credentials
    let r = b
        .post_form(&w.a.url("/sso/refresh"), &[], &[("Origin", allowed)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").unwrap(), allowed);
    // anonymous session call
    let anon = Browser::new();
    let r = anon
        .get_with(&w.a.url("/sso/session"), &[("Origin", allowed)])
        .await;
    assert_eq!(r.json()["authenticated"], false);
}
