//! `netunnel server`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use netunnel_core::{Server, ServerOptions};

/// Flags of `netunnel server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Port to listen on (0: any free port; the log says which).
    #[arg(short, long, default_value_t = 4040)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    hostname: String,
    /// Configuration file to use, created if missing (default: stateless mode).
    #[arg(short, long)]
    config_path: Option<PathBuf>,
    #[command(flatten)]
    key: crate::key_args::KeyArgs,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    auth: crate::auth_args::AuthArgs,
    #[command(flatten)]
    heartbeat: crate::heartbeat_args::HeartbeatArgs,
    /// Answer `GET /metrics` in the Prometheus text format (behind the auth
    /// plugin, as every route).
    #[arg(long)]
    metrics: bool,
    /// Log at debug level.
    #[arg(short, long)]
    pub debug: bool,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let signal = crate::signals::termination()?;
    let key = args.key.key()?;
    if args.config_path.is_none() {
        let warning = "The server is running in stateless mode: tunnels and settings live in memory only. Use --config-path to keep them";
        if std::io::stderr().is_terminal() {
            eprintln!("\x1b[33m{warning}\x1b[0m");
        } else {
            eprintln!("{warning}");
        }
    }
    let mut options = ServerOptions::new()
        .host(args.hostname)
        .port(args.port)
        .auth(args.auth.server()?)
        .heartbeat(args.heartbeat.heartbeat())
        .metrics(args.metrics);
    if let Some(path) = args.config_path {
        options = options.config_path(path);
    }
    if let Some(key) = key {
        options = options.secret_key(key);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        options = options.tls_files(cert, key);
    }
    let server = Server::start(options).await?;
    log::debug!("serving {}", server.url());
    let signal = signal.await.unwrap_or(0);
    log::info!("signal {signal} received; shutting down");
    server.stop().await;
    Ok(())
}
