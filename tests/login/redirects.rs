//! Open-redirect attempts through `/sso/login?rd=`.

use sso_integration_tests::world::urlencode;
use sso_integration_tests::Browser;

use crate::world;

#[tokio::test]
async fn hostile_rd_values_are_refused_with_400_and_never_followed() {
    let w = world();
    let b = Browser::new();
    let payloads = [
        "https://evil.com/",
        "http://a.localhost.evil.com/",
        "https://evil.com#@a.localhost",
        "https://evil.com?@app1.a.localhost",
        "//evil.com",
        "/\\evil.com",
        "https://app1.a.localhost\\@evil.com",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://a.localhost@evil.com/",
        "https://user:pw@app1.a.localhost/",
        "http://app1.a.localhost./",
        "http://аpp1.a.localhost/",
        "http://xn--pp1-5cd.a.localhost/",
        "https:evil.com",
        "http://b.localhost/",
        "ftp://app1.a.localhost/",
        "http://app1.a.localhost%2eevil.com/",
        " http://app1.a.localhost/",
        "http://app1.a.localhost/%0d%0aSet-Cookie:x=y",
    ];
    for p in payloads {
        let r = b
            .get(&format!("{}?rd={}", w.a.url("/sso/login"), urlencode(p)))
            .await;
        assert_eq!(r.status, 400, "{p:?} must be refused: {}", r.body);
        assert!(r.headers.get("location").is_none(), "{p:?} followed");
        assert!(r.set_cookie("sso_login").is_none(), "{p:?} started a login");
        assert!(
            r.body
                .contains("<h1 id=\"title\">Redirect not allowed</h1>"),
            "{p:?}: {}",
            r.body
        );
    }
    // allowed
    for ok in [
        "http://app1.a.localhost:9/x?y=1#f",
        "http://a.localhost/",
        "https://deep.sub.a.localhost/",
    ] {
        let r = b
            .get(&format!("{}?rd={}", w.a.url("/sso/login"), urlencode(ok)))
            .await;
        assert_eq!(r.status, 302, "{ok}: {}", r.body);
    }
    // repeated rd is ambiguous
    let r = b
        .get(&format!(
            "{}?rd=http%3A%2F%2Fa.localhost%2F&rd=https%3A%2F%2Fevil.com",
            w.a.url("/sso/login")
        ))
        .await;
    assert_eq!(r.status, 400);
}
