//! Demo app for sibling subdomains (`app1.a.localhost`, `app.b.localhost`).
//!
//! The page (`/`) asks the gateway whether the browser is signed in, the way an nginx-fronted
//! app does (`auth_request`): it calls `GET <gateway>/sso/auth` server-side with the browser's
//! `Cookie` header and uses the verdict as is. Only the gateway knows about logouts (its
//! revocation cache is fed by back-channel logout, Redis pub/sub and tombstones), so a
//! still-unexpired access token of an ended session shows "Signed out". Any `Set-Cookie` the
//! gateway answers with (refreshed tokens, or the clearing of a dead session's cookies) is
//! passed on to the browser. When the gateway cannot be asked the page fails closed: it never
//! falls back to trusting the token on its own.
//!
//! `/api/me` is a JSON API guarded by sso-core's [`Authenticated`] extractor: it verifies the
//! `Authorization: Bearer` token (or the joined `sso_at` cookie) locally against the OP's
//! JWKS. That check is stateless: this app's revocation cache is not fed by the gateway, so a
//! token stays accepted there until it expires, which is the usual trade-off of JWT access
//! tokens at a resource server.
//!
//! `/spa/` serves the single-page app of `examples/spa` (static HTML and JS, with the client
//! module `clients/js/sso.js`), and `/spa/config.json` tells it its gateway and API. The API
//! (`/api/me`) answers credentialed CORS requests from the exact origins of
//! [`DemoConfig::cors_origins`], so the SPA on `app1.a.localhost` can call it on
//! `api.a.localhost`.
//!
//! A library so tests can run it in-process ([`serve`]); `src/main.rs` is the thin CLI.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sso_actix::{Authenticated, ResourceServer};
use sso_core::util::html_escape;

/// How long the page waits for the gateway's verdict.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the demo app needs to know; also its command line (`src/main.rs`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DemoConfig {
    /// The OP's issuer; `/api/me` verifies access tokens against its JWKS.
    #[arg(long)]
    pub issuer: String,
    /// Host suffix → gateway base URL, e.g. (`a.localhost`, `http://auth.a.localhost:8081`),
    /// given as `--gateway a.localhost=http://auth.a.localhost:8081`.
    #[arg(long = "gateway", value_parser = parse_pair)]
    pub gateways: Vec<(String, String)>,
    /// Exact origins (`http://app1.a.localhost:8090`) whose pages may call `/api/*` with
    /// credentials (CORS; `--cors-origin`, repeatable). Empty: no CORS headers at all.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Clock leeway of `/api/me`'s token check, seconds (`None`: sso-core's default, 30).
    #[arg(skip)]
    pub api_leeway_secs: Option<i64>,
}

/// `domain=url` of `--gateway`.
fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| "expected domain=url".to_string())
}

impl DemoConfig {
    /// The cookie domain covering `host` (no port) and its gateway.
    pub fn gateway_for(&self, host: &str) -> Option<(&str, &str)> {
        self.gateways
            .iter()
            .find(|(d, _)| host == d || host.ends_with(&format!(".{d}")))
            .map(|(d, g)| (d.as_str(), g.trim_end_matches('/')))
    }
}

/// Shared state of the app's workers; build once, then [`Demo::configure`] each `App`.
#[derive(Clone)]
pub struct Demo {
    rs: web::Data<ResourceServer>,
    cfg: web::Data<DemoConfig>,
    http: web::Data<reqwest::Client>,
}

impl Demo {
    pub fn new(cfg: DemoConfig) -> std::io::Result<Self> {
        let rs = ResourceServer::with_clock_leeway(
            &cfg.issuer,
            vec!["RS256".into(), "PS256".into(), "ES256".into()],
            Vec::new(), // any client of this issuer: the demo serves both domains
            cfg.api_leeway_secs.unwrap_or(30),
        )
        .map_err(std::io::Error::other)?;
        let http = gateway_client(&cfg)?;
        Ok(Self {
            rs: web::Data::new(rs),
            cfg: web::Data::new(cfg),
            http: web::Data::new(http),
        })
    }

    /// Registers the app data, the `/` page, the SPA under `/spa/` and `/api/me` (with CORS).
    pub fn configure(&self, sc: &mut web::ServiceConfig) {
        let origins = self.cfg.cors_origins.clone();
        sc.app_data(self.rs.clone())
            .app_data(self.cfg.clone())
            .app_data(self.http.clone())
            .route("/", web::get().to(index))
            .route("/spa", web::get().to(spa_redirect))
            .route("/spa/", web::get().to(spa_file))
            .route("/spa/config.json", web::get().to(spa_config))
            .route("/spa/{file}", web::get().to(spa_file))
            .service(
                web::scope("/api")
                    .wrap(actix_web::middleware::from_fn(move |req, next| {
                        cors(origins.clone(), req, next)
                    }))
                    .route("/me", web::get().to(me))
                    .route(
                        "/me",
                        web::method(actix_web::http::Method::OPTIONS).to(preflight),
                    ),
            );
    }
}

/// The HTTP client for the gateways: no redirects followed, no proxy, and `*.localhost`
/// gateway names mapped to loopback (glibc does not resolve them; browsers do).
fn gateway_client(cfg: &DemoConfig) -> std::io::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(GATEWAY_TIMEOUT);
    for (_, g) in &cfg.gateways {
        let url = reqwest::Url::parse(g)
            .map_err(|e| std::io::Error::other(format!("gateway URL {g}: {e}")))?;
        if let Some(h) = url.host_str() {
            if h == "localhost" || h.ends_with(".localhost") {
                // port 0: the port of the URL is used
                b = b.resolve(h, SocketAddr::from(([127, 0, 0, 1], 0)));
            }
        }
    }
    b.build().map_err(std::io::Error::other)
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

/// The gateway's answer about the browser's session.
enum Verdict {
    SignedIn {
        user: String,
        email: String,
    },
    SignedOut,
    /// The gateway could not be asked, or answered neither 200 nor 401.
    Unavailable(String),
}

/// `GET <gateway>/sso/auth` with the browser's cookies: the verdict and the gateway's
/// `Set-Cookie` headers (to pass on to the browser).
async fn ask_gateway(
    http: &reqwest::Client,
    gateway: &str,
    cookies: Option<&[u8]>,
) -> (Verdict, Vec<Vec<u8>>) {
    // no cookies at all: nothing the gateway could accept
    let Some(cookies) = cookies else {
        return (Verdict::SignedOut, vec![]);
    };
    let r = match http
        .get(format!("{gateway}/sso/auth"))
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::COOKIE, cookies)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (Verdict::Unavailable(e.to_string()), vec![]),
    };
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let set_cookies = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    let verdict = match r.status().as_u16() {
        200 => Verdict::SignedIn {
            user: h("x-auth-request-user"),
            email: h("x-auth-request-email"),
        },
        401 => Verdict::SignedOut,
        s => Verdict::Unavailable(format!("the gateway answered {s}")),
    };
    (verdict, set_cookies)
}

async fn index(
    req: HttpRequest,
    cfg: web::Data<DemoConfig>,
    http: web::Data<reqwest::Client>,
) -> HttpResponse {
    let info = req.connection_info().clone();
    let here = format!("{}://{}{}", info.scheme(), info.host(), req.uri());
    let host = info.host().split(':').next().unwrap_or("").to_string();
    let Some((_, gw)) = cfg.gateway_for(&host) else {
        return page(
            StatusCode::NOT_FOUND,
            format!(
                "<h1 id=\"status\">No gateway</h1><p>No gateway is configured for {}.</p>",
                html_escape(&host)
            ),
            vec![],
        );
    };
    let cookies = req.headers().get(header::COOKIE).map(|v| v.as_bytes());
    let (verdict, set_cookies) = ask_gateway(&http, gw, cookies).await;
    let rd = utf8_percent_encode(&here, QUERY_VALUE);
    let gw_html = html_escape(gw);
    let (status, body) = match verdict {
        Verdict::SignedIn { user, email } => (
            StatusCode::OK,
            format!(
                "<h1 id=\"status\">Signed in</h1><p>as <b id=\"user\">{}</b> ({}) on {}</p>\
<p><a id=\"logout\" href=\"{gw_html}/sso/logout?rd={rd}\">Log out</a> · \
<a id=\"api-me\" href=\"/api/me\">/api/me</a></p>",
                html_escape(&user),
                html_escape(&email),
                html_escape(&host),
            ),
        ),
        Verdict::SignedOut => (
            StatusCode::OK,
            format!(
                "<h1 id=\"status\">Signed out</h1><p>on {}</p>\
<p><a id=\"login\" href=\"{gw_html}/sso/login?rd={rd}\">Log in</a></p>",
                html_escape(&host)
            ),
        ),
        Verdict::Unavailable(why) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "<h1 id=\"status\">Gateway unavailable</h1><p>Cannot ask {gw_html} who is signed \
in: {}</p>",
                html_escape(&why)
            ),
        ),
    };
    page(status, body, set_cookies)
}

fn page(status: StatusCode, body: String, set_cookies: Vec<Vec<u8>>) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Cookie"))
        .content_type("text/html; charset=utf-8");
    for c in set_cookies {
        r.append_header((header::SET_COOKIE, c));
    }
    r.body(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>sso-gateway demo</title></head>\
<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">{body}</body></html>"
    ))
}

/// `GET /api/me`: the verified caller's claims, or `401` (sso-core's extractor).
async fn me(who: Authenticated) -> HttpResponse {
    let c = who.0;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "sub": c.sub,
            "preferred_username": c.preferred_username,
            "email": c.email,
            "name": c.name,
            "groups": c.groups,
            "sid": c.sid,
            "exp": c.exp,
        }))
}

/// Everything but RFC 3986's unreserved characters is percent-encoded (a query value).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

// ---------------------------------------------------------------- the SPA (examples/spa)

/// The SPA's files, compiled in: `examples/spa` and the client module `clients/js/sso.js`.
const SPA_FILES: &[(&str, &str)] = &[
    (
        "index.html",
        include_str!("../../../examples/spa/index.html"),
    ),
    ("app.js", include_str!("../../../examples/spa/app.js")),
    ("app.css", include_str!("../../../examples/spa/app.css")),
    ("sso.js", include_str!("../../../clients/js/sso.js")),
];

async fn spa_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/spa/"))
        .finish()
}

async fn spa_file(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("file").unwrap_or("index.html");
    match SPA_FILES.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .content_type(match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                _ => "text/javascript; charset=utf-8",
            })
            .body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file"),
    }
}

/// `{gateway, api}` for the host the SPA was loaded from: its domain's gateway, and
/// `/api/me` on `api.<domain>` (same scheme and port as the SPA).
async fn spa_config(req: HttpRequest, cfg: web::Data<DemoConfig>) -> HttpResponse {
    let info = req.connection_info().clone();
    let (host, port) = match info.host().rsplit_once(':') {
        Some((h, p)) => (h.to_string(), format!(":{p}")),
        None => (info.host().to_string(), String::new()),
    };
    let Some((domain, gw)) = cfg.gateway_for(&host) else {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": "no_gateway",
            "error_description": format!("no gateway is configured for {host}"),
        }));
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "gateway": gw,
            "api": format!("{}://api.{domain}{port}/api/me", info.scheme()),
        }))
}

/// Credentialed CORS for `/api/*`: the exact origin echoed when it is configured, never `*`;
/// on every answer (a `401` the page cannot read would look like a network error).
async fn cors(
    origins: Vec<String>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|v| v.to_str().is_ok_and(|o| origins.iter().any(|a| a == o)))
        .cloned();
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.append(header::VARY, header::HeaderValue::from_static("Origin"));
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("Retry-After, WWW-Authenticate"),
        );
    }
    Ok(res)
}

/// Preflight for `/api/me` (the CORS middleware adds the origin headers when allowed).
async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, Content-Type, X-Requested-With",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}
