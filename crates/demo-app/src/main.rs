//! CLI for the demo app (`make demo`); the app itself lives in the library.

use clap::Parser;
use sso_demo_app::DemoConfig;

#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    #[arg(long)]
    issuer: String,
    /// host suffix → gateway base URL, e.g. `a.localhost=http://auth.a.localhost:8081`
    #[arg(long = "gateway", value_parser = parse_pair)]
    gateways: Vec<(String, String)>,
    /// exact origin allowed to call `/api/*` with credentials, e.g.
    /// `http://app1.a.localhost:8090` (repeatable)
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| "expected domain=url".to_string())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = std::net::TcpListener::bind(&args.listen)?;
    sso_demo_app::serve(
        listener,
        DemoConfig {
            issuer: args.issuer,
            gateways: args.gateways,
            cors_origins: args.cors_origins,
            api_leeway_secs: None,
        },
    )?
    .await
}
