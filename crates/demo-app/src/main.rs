//! Demo app for sibling subdomains (`app1.a.localhost`, `app.b.localhost`): shows who is
//! signed in by verifying `sso_at` with sso-core's `Authenticated` extractor.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use sso_core::resource::{Authenticated, ResourceServer};
use sso_core::util::html_escape;

#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    #[arg(long)]
    issuer: String,
    /// host suffix → gateway base URL, e.g. `a.localhost=http://auth.a.localhost:8081`
    #[arg(long = "gateway", value_parser = parse_pair)]
    gateways: Vec<(String, String)>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| "expected domain=url".to_string())
}

fn gateway_for(args: &Args, host: &str) -> Option<String> {
    args.gateways
        .iter()
        .find(|(d, _)| host == d || host.ends_with(&format!(".{d}")))
        .map(|(_, g)| g.clone())
}

async fn index(
    req: HttpRequest,
    who: Option<Authenticated>,
    args: web::Data<Args>,
) -> HttpResponse {
    let info = req.connection_info().clone();
    let here = format!("{}://{}{}", info.scheme(), info.host(), req.uri());
    let host = info.host().split(':').next().unwrap_or("").to_string();
    let gw = gateway_for(&args, &host).unwrap_or_default();
    let rd: String = url_encode(&here);
    let body = match who {
        Some(Authenticated(c)) => format!(
            "<h1 id=\"status\">Signed in</h1><p>as <b id=\"user\">{}</b> ({}) on {}</p>\
<p><a href=\"{gw}/sso/logout?rd={rd}\">Log out</a></p>",
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

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let rs = web::Data::new(
        ResourceServer::new(
            &args.issuer,
            vec!["RS256".into(), "PS256".into(), "ES256".into()],
        )
        .map_err(std::io::Error::other)?,
    );
    let listen = args.listen.clone();
    let data = web::Data::new(args);
    HttpServer::new(move || {
        App::new()
            .app_data(rs.clone())
            .app_data(data.clone())
            .route("/", web::get().to(index))
    })
    .bind(listen)?
    .run()
    .await
}
