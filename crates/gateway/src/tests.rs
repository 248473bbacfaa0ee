//! The HTTP contract of the extractors and the scope defaults, in process (memory store, an
//! OP that is never reached): strict queries, the bearer scheme in any case, CORS, and
//! `Cache-Control: no-store` on every answer under the prefix.

use actix_web::http::{header, Method, StatusCode};
use actix_web::test::{call_service, init_service, read_body, TestRequest};
use sso_core::config::Settings;
use sso_core::store::memory::MemoryStore;

const KEY: &str = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4";
const ADMIN: &str = "admin-token-admin-token-admin-token-0123";
const APP: &str = "https://app.a.test";

fn gateway() -> std::sync::Arc<sso_core::Gateway> {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://auth.a.test"
[oidc]
issuer = "http://127.0.0.1:9/realms/none"
client_id = "gw-a"
client_secret = "s3cret"
[cookie]
domain = "a.test"
keys = ["{KEY}"]
[redirect]
allowed = ["a.test", "*.a.test"]
[store]
kind = "memory"
[cors]
allowed_origins = ["{APP}"]
[admin]
token = "{ADMIN}"
"#
    );
    let settings = Settings::from_toml(&toml).expect("test settings");
    sso_core::Gateway::with_store(settings, std::sync::Arc::new(MemoryStore::new()))
        .expect("gateway")
}

fn header_of<B>(
    r: &actix_web::dev::ServiceResponse<B>,
    h: impl header::AsHeaderName,
) -> Option<String> {
    r.headers()
        .get(h)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[actix_web::test]
async fn a_repeated_query_parameter_is_refused_on_every_route_that_reads_one() {
    let app = init_service(crate::app(gateway())).await;
    let admin = format!("Bearer {ADMIN}");
    for (method, path) in [
        (
            Method::GET,
            "/sso/login?rd=https://a.test/&rd=https://evil.test/",
        ),
        (Method::GET, "/sso/callback?state=a&state=b"),
        (Method::GET, "/sso/auth?redirect=1&redirect=0"),
        (
            Method::GET,
            "/sso/logout?rd=https://a.test/&rd=https://evil.test/",
        ),
        (Method::POST, "/sso/logout?peers=0&peers=1"),
        (Method::GET, "/sso/logged-out?state=a&state=b"),
        (Method::GET, "/sso/signed-out?rd=a&rd=b"),
        (Method::GET, "/sso/logout/clear?t=a&t=b"),
        (Method::GET, "/sso/admin/sessions?sub=a&sub=b"),
    ] {
        let req = TestRequest::default()
            .method(method)
            .uri(path)
            .insert_header((header::AUTHORIZATION, admin.as_str()))
            .to_request();
        let r = call_service(&app, req).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = read_body(r).await;
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("is repeated"), "{path}: {body}");
    }
}

#[actix_web::test]
async fn the_admin_bearer_scheme_is_case_insensitive() {
    let app = init_service(crate::app(gateway())).await;
    for (auth, status) in [
        (format!("Bearer {ADMIN}"), StatusCode::OK),
        (format!("bearer {ADMIN}"), StatusCode::OK),
        (format!("BEARER {ADMIN}"), StatusCode::OK),
        (format!("Basic {ADMIN}"), StatusCode::UNAUTHORIZED),
        ("Bearer wrong".to_string(), StatusCode::UNAUTHORIZED),
    ] {
        let req = TestRequest::get()
            .uri("/sso/admin/sessions?sub=alice")
            .insert_header((header::AUTHORIZATION, auth.as_str()))
            .to_request();
        assert_eq!(call_service(&app, req).await.status(), status, "{auth}");
    }
}

#[actix_web::test]
async fn every_answer_under_the_prefix_is_no_store() {
    let app = init_service(crate::app(gateway())).await;
    for (method, path, origin) in [
        (Method::GET, "/sso/session", None),
        (Method::POST, "/sso/refresh", None),
        (Method::GET, "/sso/auth", None),
        (Method::GET, "/sso/signed-out", None),
        (Method::DELETE, "/sso/session", None),
        (Method::GET, "/sso/admin/sessions?sub=a", None),
        (Method::OPTIONS, "/sso/refresh", Some(APP)),
        (Method::OPTIONS, "/sso/refresh", Some("https://evil.test")),
    ] {
        let mut req = TestRequest::default().method(method.clone()).uri(path);
        if let Some(o) = origin {
            req = req.insert_header((header::ORIGIN, o));
        }
        let r = call_service(&app, req.to_request()).await;
        assert_eq!(
            header_of(&r, header::CACHE_CONTROL).as_deref(),
            Some("no-store"),
            "{method} {path} {origin:?}: {}",
            r.status()
        );
    }
}

#[actix_web::test]
async fn every_answer_carries_the_edge_headers_and_a_request_id() {
    let app = init_service(crate::app(gateway())).await;
    for path in ["/sso/auth", "/healthz", "/sso/nowhere", "/nowhere"] {
        for (sent, echoed) in [
            (Some("req-42_abc"), true),
            (Some("bad id with spaces"), false),
            (None, false),
        ] {
            let mut req = TestRequest::get().uri(path);
            if let Some(id) = sent {
                req = req.insert_header(("x-request-id", id));
            }
            let r = call_service(&app, req.to_request()).await;
            for (h, v) in [
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
                ("x-frame-options", "DENY"),
            ] {
                assert_eq!(header_of(&r, h).as_deref(), Some(v), "{path}: {h}");
            }
            let id = header_of(&r, "x-request-id").unwrap_or_default();
            assert_eq!(Some(id.as_str()) == sent, echoed, "{path} {sent:?}: {id}");
            assert!(
                id.len() >= 8
                    && id
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{path}: request id {id:?}"
            );
        }
    }
    // outside the prefix a handler's own caching stands (health checks, metrics)
    let r = call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(header_of(&r, header::CACHE_CONTROL), None);
}

#[actix_web::test]
async fn cors_echoes_a_listed_origin_only() {
    let app = init_service(crate::app(gateway())).await;
    let get = |origin: &'static str| {
        TestRequest::get()
            .uri("/sso/session")
            .insert_header((header::ORIGIN, origin))
            .to_request()
    };
    let r = call_service(&app, get(APP)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(APP)
    );
    assert_eq!(
        header_of(&r, header::ACCESS_CONTROL_ALLOW_CREDENTIALS).as_deref(),
        Some("true")
    );
    assert_eq!(
        header_of(&r, header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("retry-after")
    );
    assert!(header_of(&r, header::VARY).is_some_and(|v| v.contains("Origin")));

    // an unlisted origin: answered, without CORS headers (the browser hides it)
    let r = call_service(&app, get("https://app.a.test.evil.test")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(header_of(&r, header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    assert!(header_of(&r, header::VARY).is_some_and(|v| v.contains("Origin")));

    // preflight: 204 for a listed origin, 403 otherwise
    let pre = |origin: &'static str| {
        TestRequest::default()
            .method(Method::OPTIONS)
            .uri("/sso/refresh")
            .insert_header((header::ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST"))
            .to_request()
    };
    let r = call_service(&app, pre(APP)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(APP)
    );
    assert!(header_of(&r, header::ACCESS_CONTROL_ALLOW_METHODS).is_some_and(|v| v.contains("POST")));
    let r = call_service(&app, pre("https://evil.test")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // an unlisted origin cannot refresh with the cookies
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/sso/refresh")
            .insert_header((header::ORIGIN, "https://evil.test"))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
