//! The gateway's HTML pages over HTTP: values from the request are escaped in the built-in
//! templates and in an operator's own (`[ui] template_dir`), and a 503 page carries
//! `Retry-After` and the retry.

use sso_integration_tests::world::{urlencode, World};
use sso_integration_tests::Browser;

/// A parameter name the gateway repeats in its "is repeated" message.
const EVIL: &str = "<script>alert(1)</script>\"'x";

fn repeated_param_url(w: &World) -> String {
    let k = urlencode(EVIL);
    format!("{}?{k}=1&{k}=2", w.a.url("/sso/login"))
}

#[tokio::test]
async fn request_values_are_escaped_on_the_builtin_pages() {
    let w = crate::world();
    let b = Browser::new();
    let r = b.get(&repeated_param_url(&w)).await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(!r.body.contains("\"'x"), "{}", r.body);
    assert!(
        r.body.contains(
            "parameter &lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;&#x27;x is repeated"
        ),
        "{}",
        r.body
    );
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // no way to carry on is invented for a request without an allowed rd
    assert!(!r.body.contains("id=\"try-again\""), "{}", r.body);
    assert!(r.body.contains("id=\"hint\""), "{}", r.body);
}

#[tokio::test]
async fn operator_templates_replace_the_builtin_ones_and_still_escape() {
    let dir = std::env::temp_dir().join(format!("sso-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("error.html"),
        "{% extends \"base.html\" %}{% block content %}<p id=\"operator\">Acme: {{ message }}</p>{% endblock %}",
    )
    .unwrap();
    let toml_dir = dir.display().to_string();
    let w = World::start_with(Default::default(), move |o| {
        o.extra
            .push_str(&format!("[ui]\ntemplate_dir = \"{toml_dir}\"\n"));
    });
    let b = Browser::new();
    let r = b.get(&repeated_param_url(&w)).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("<p id=\"operator\">Acme: parameter &lt;script&gt;"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<script>"), "{}", r.body);
    // the pages it does not replace stay the built-in ones
    let r = b.get(&w.a.url("/sso/signed-out")).await;
    assert!(
        r.body.contains("<h1 id=\"title\">You are signed out</h1>"),
        "{}",
        r.body
    );

    // a broken template stops the gateway at configuration time, naming the file
    std::fs::write(dir.join("signed_out.html"), "{% if %}").unwrap();
    let e = sso_core::config::Settings::from_toml(&w.a_opts.toml(1)).unwrap_err();
    assert!(e.to_string().contains("signed_out.html"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_503_page_names_the_wait_and_retries_the_login() {
    let mut w = crate::world();
    let b = Browser::new();
    let app = w.a.app_url();
    // no OP: the login cannot start
    w.op.stop();
    let r = b
        .get(&format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&app)))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "5");
    assert!(
        r.body.contains(
            "<meta http-equiv=\"refresh\" content=\"5;url=http:&#x2f;&#x2f;auth.a.localhost"
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"try-again\""), "{}", r.body);
    assert!(
        r.body.contains("tries again by itself in 5 seconds"),
        "{}",
        r.body
    );
}

/// A failed clearing-chain hop or logout return is a page with a next step: this gateway's
/// signed-out page (which offers to sign in again), not a dead end.
#[tokio::test]
async fn failed_logout_hops_offer_the_next_step() {
    let w = crate::world();
    let b = Browser::new();
    let signed_out = w.a.url("/sso/signed-out");
    for path in [
        "/sso/logout/clear?t=forged&i=0",
        "/sso/logged-out?state=forged",
    ] {
        let r = b.get(&w.a.url(path)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        // minijinja escapes `/` in attribute values as `&#x2f;`
        let body = r.body.replace("&#x2f;", "/");
        assert!(
            body.contains(&format!(
                "id=\"back\" class=\"secondary\" href=\"{signed_out}\""
            )),
            "{path}: no link to {signed_out}: {}",
            r.body
        );
    }
}
