//! CLI for the demo app (`make demo`); the app itself lives in the library.

use clap::Parser;
use sso_demo_app::DemoConfig;

/// The demo app of `make demo`: sibling-subdomain pages that ask the gateway who is signed in.
#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    #[command(flatten)]
    demo: DemoConfig,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = std::net::TcpListener::bind(&args.listen)?;
    sso_demo_app::serve(listener, args.demo)?.await
}
