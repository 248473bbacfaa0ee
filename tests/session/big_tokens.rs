use sso_integration_tests::world::{login, World};
use sso_integration_tests::{Browser, OpOptions};

use crate::{auth, header, wait_for_expiry};

#[tokio::test]
async fn tokens_over_4kb_survive_login_forward_auth_refresh_and_logout() {
    let w = World::start(OpOptions {
        big_roles: Some(150),
        access_token_ttl: Some(2),
        ..Default::default()
    });
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let jar = b.jar.cookies_for(&w.a.app_url());
    assert!(
        jar.contains_key("sso_at.1") && jar.contains_key("sso_at.2"),
        "{:?}",
        jar.keys()
    );
    let total: usize = jar
        .iter()
        .filter(|(k, _)| k.starts_with("sso_at"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(total > 8000, "token is {total} bytes");
    for c in b.jar.all().iter().filter(|c| c.name.starts_with("sso_at")) {
        assert!(
            c.name.len() + c.value.len() <= 3800,
            "{} is {} bytes",
            c.name,
            c.value.len()
        );
    }
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(header(&r, "x-auth-request-groups")
        .unwrap()
        .contains("role-0149"));
    let s = b
        .get_with(&w.a.url("/sso/session"), &[("Accept", "application/json")])
        .await;
    assert_eq!(s.json()["authenticated"], true);

    // a stray extra chunk from an earlier, longer token gets cleared on the next refresh
    let url = url::Url::parse(&w.a.url("/")).unwrap();
    b.jar
        .store(&url, "sso_at.5=leftover; Domain=a.localhost; Path=/");
    wait_for_expiry(2).await;
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cleared = r.set_cookie("sso_at.5").expect("leftover cleared");
    assert!(cleared.contains("Max-Age=0"));
    let jar = b.jar.cookies_for(&w.a.app_url());
    assert!(!jar.contains_key("sso_at.5"));
    assert!(jar.contains_key("sso_at.2"));
    let r = auth(&b, &w.a).await;
    assert_eq!(r.status, 200);

    // logout clears every chunk with its exact Domain and Path
    let r = b.get(&w.a.url("/sso/logout")).await;
    assert_eq!(r.status, 302, "{}", r.body);
    for name in ["sso_at", "sso_at.1", "sso_at.2", "sso_rt"] {
        let c = r
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared: {:?}", r.set_cookies()));
        assert!(
            c.contains("Max-Age=0") && c.contains("Domain=a.localhost") && c.contains("Path=/"),
            "{c}"
        );
    }
    assert!(
        b.jar
            .cookies_for(&w.a.app_url())
            .keys()
            .all(|k| !k.starts_with("sso_")),
        "{:?}",
        b.jar.cookies_for(&w.a.app_url())
    );
}
