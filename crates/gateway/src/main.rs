//! sso-gateway binary: parse the CLI, load config, init tracing, run.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sso_core::config::Settings;

#[derive(Parser)]
#[command(
    name = "sso-gateway",
    version,
    about = "OIDC SSO gateway for several root domains"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// TOML configuration file (env SSO__SECTION__KEY overrides it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve (the default).
    Run,
    /// Validate the configuration, print the problems, exit non-zero if any.
    CheckConfig,
    /// Operator actions on a user's sessions (connects to the configured store).
    Sessions {
        #[command(subcommand)]
        action: SessionsCmd,
    },
    /// Operator actions on the fan-out queues (connects to the configured store).
    Fanout {
        #[command(subcommand)]
        action: FanoutCmd,
    },
}

#[derive(Subcommand)]
enum FanoutCmd {
    /// Move the logouts peers refused for good (dead letters) back to their delivery
    /// queues; the running gateways deliver them again.
    ReplayDead {
        /// Only this peer (its origin, e.g. https://auth.b.com); default: every peer.
        #[arg(long)]
        peer: Option<String>,
    },
}

#[derive(Subcommand)]
enum SessionsCmd {
    /// List a user's sessions as JSON (never ids or tokens).
    List {
        #[arg(long)]
        sub: String,
    },
    /// End every session of a user on every replica and peer domain.
    Revoke {
        #[arg(long)]
        sub: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    // a failure is printed with this command's prefix
    let (done, prefix) = match cli.cmd.unwrap_or(Cmd::Run) {
        Cmd::CheckConfig => {
            println!(
                "configuration OK: {} for cookie domain {} (client {} at {})",
                settings.server.public_url,
                settings.cookie.domain,
                settings.oidc.client_id,
                settings.oidc.verifier.issuer
            );
            return std::process::ExitCode::SUCCESS;
        }
        Cmd::Run => (run(settings), "sso-gateway"),
        cmd @ Cmd::Sessions { .. } => (operate(settings, cmd), "sso-gateway"),
        cmd @ Cmd::Fanout { .. } => (operate(settings, cmd), "error"),
    };
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{prefix}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(settings: Settings) -> anyhow::Result<()> {
    sso_gateway::telemetry::init(settings.log_format, &settings.log_filter);
    actix_web::rt::System::new().block_on(async move {
        let listen = settings.server.listen;
        let gw = sso_core::Gateway::build(settings)
            .await
            .context("starting the gateway")?;
        if let Err(e) = gw.oidc().verifier().metadata().await {
            tracing::warn!(error = %e, "OP discovery failed at start; will retry on demand");
        }
        let listener =
            std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
        tracing::info!(%listen, "sso-gateway listening");
        // One actix worker per core: the hot path is CPU-bound and never blocks.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        // the binary owns the background tasks and stops them with the server
        let background = gw.spawn_background();
        let server = sso_gateway::server(gw, listener, workers)?;
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.stop(true).await;
        });
        #[cfg(unix)]
        {
            let handle = server.handle();
            actix_web::rt::spawn(async move {
                if let Ok(mut s) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    s.recv().await;
                    handle.stop(true).await;
                }
            });
        }
        let served = server.await.context("server");
        background.stop();
        served
    })
}

/// `sessions …` and `fanout …`: one operator action on the configured store, printed as
/// JSON.
fn operate(settings: Settings, cmd: Cmd) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let gw = sso_core::Gateway::build(settings)
            .await
            .context("connecting the store")?;
        let out = match cmd {
            Cmd::Sessions {
                action: SessionsCmd::List { sub },
            } => {
                let list = gw.list_sessions(&sub).await?;
                serde_json::json!({"sub": sub, "sessions": list})
            }
            Cmd::Sessions {
                action: SessionsCmd::Revoke { sub },
            } => {
                let ended = gw.revoke_subject(&sub).await?;
                serde_json::json!({"sub": sub, "ended": ended.sessions})
            }
            Cmd::Fanout {
                action: FanoutCmd::ReplayDead { peer },
            } => {
                let moved = gw.fanout().replay_dead_letters(peer.as_deref()).await?;
                serde_json::json!({"replayed": moved})
            }
            Cmd::Run | Cmd::CheckConfig => return Ok(()),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    })
}
