//! Demo app for sibling subdomains (`app1.a.localhost`, `app.b.localhost`): shows who is
//! signed in by verifying `sso_at` with sso-core's `Authenticated` extractor.
//!
//! A library so tests can run it in-process ([`serve`]); `src/main.rs` is the thin CLI.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use sso_core::resource::{Authenticated, ResourceServer};
use sso_core::util::html_escape;

/// What the demo app needs to know.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The OP's issuer; access tokens are verified against its JWKS.
    pub issuer: String,
    /// Host suffix → gateway base URL, e.g. (`a.localhost`, `http://auth.a.localhost:8081`).
    pub gateways: Vec<(String, String)>,
}

impl DemoConfig {
    /// The gateway whose cookie domain covers `host` (no port).
    pub fn gateway_for(&self, host: &str) -> Option<&str> {
        self.gateways
            .iter()
            .find(|(d, _)| host == d || host.ends_with(&format!(".{d}")))
            .map(|(_, g)| g.as_str())
    }
}

/// Shared state of the app's workers; build once, then [`Demo::configure`] each `App`.
#[derive(Clone)]
pub struct Demo {
    rs: web::Data<ResourceServer>,
    cfg: web::Data<DemoConfig>,
}

impl Demo {
    pub fn new(cfg: DemoConfig) -> std::io::Result<Self> {
        let rs = ResourceServer::new(
            &cfg.issuer,
            vec!["RS256".into(), "PS256".into(), "ES256".into()],
        )
        .map_err(std::io::Error::other)?;
        Ok(Self {
            rs: web::Data::new(rs),
            cfg: web::Data::new(cfg),
        })
    }

    /// Registers the app data and the `/` page.
    pub fn configure(&self, sc: &mut web::ServiceConfig) {
        sc.app_data(self.rs.clone())
            .app_data(self.cfg.clone())
            .route("/", web::get().to(index));
    }
}

/// The demo app on an already bound listener. Call inside an actix/tokio runtime and
/// await (or spawn) the returned server.
pub fn serve(listener: TcpListener, cfg: DemoConfig) -> std::io::Result<Server> {
    let demo = Demo::new(cfg)?;
    Ok(HttpServer::new(move || {
        let demo = demo.clone();
        App::new().configure(move |sc| demo.configure(sc))
    })
    .workers(2)
    .listen(listener)?
    .run())
}

async fn index(
    req: HttpRequest,
    who: Option<Authenticated>,
    cfg: web::Data<DemoConfig>,
) -> HttpResponse {
    let info = req.connection_info().clone();
    let here = format!("{}://{}{}", info.scheme(), info.host(), req.uri());
    let host = info.host().split(':').next().unwrap_or("").to_string();
    let gw = cfg.gateway_for(&host).unwrap_or_default();
    let rd: String = url_encode(&here);
    let body = match who {
        Some(Authenticated(c)) => format!(
            "<h1 id=\"status\">Signed in</h1><p>as <b id=\"user\">{}</b> ({}) on {}</p>\
<p><a id=\"logout\" href=\"{gw}/sso/logout?rd={rd}\">Log out</a></p>",
            html_escape(c.preferred_username.as_deref().unwrap_or(&c.sub)),
            html_escape(c.email.as_deref().unwrap_or("")),
            html_escape(&host),
        ),
        None => format!(
            "<h1 id=\"status\">Signed out</h1><p>on {}</p><p><a id=\"login\" href=\"{gw}/sso/login?rd={rd}\">Log in</a></p>",
            html_escape(&host)
        ),
    };
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>sso-gateway demo</title></head>\
<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">{body}</body></html>"
        ))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
