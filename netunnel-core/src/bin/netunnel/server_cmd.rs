//! `netunnel server`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use netunnel_core::config::{process_env, ConfigStore, KeySource};
use netunnel_core::server::{ServerCore, ServerSettings};
use netunnel_core::{AsyncStdRuntime, HttpConnector, ServerHandle};

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
    let store = ConfigStore::open(args.config_path.as_deref(), key.as_deref(), &process_env)?;
    if let Some(path) = store.path() {
        log::info!("Using configuration file {}", path.display());
    }
    if store.key_source() == KeySource::Generated && store.path().is_some() {
        log::info!("Generated a secret key and stored it in the configuration file");
    }
    for warning in store.warnings() {
        log::warn!("{warning}");
    }
    let auth = args.auth.server()?;
    let rt = AsyncStdRuntime::shared();
    let connector = HttpConnector::new(Arc::clone(&rt));
    let settings = ServerSettings {
        heartbeat: Some(args.heartbeat.heartbeat()),
        ..ServerSettings::default()
    };
    let core = ServerCore::new(rt, settings, Arc::new(store), connector, auth);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(netunnel_core::frontend::tls::server_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let handle = ServerHandle::start_with_tls(core, &args.hostname, args.port, tls).await?;
    log::debug!("serving {scheme}");
    log::info!("Starting server on {}", handle.local_addr());
    handle.core().start_peers().await?;
    let signal = signal.await.unwrap_or(0);
    log::info!("signal {signal} received; shutting down");
    handle.stop().await;
    // Give channels a moment to send their close frames.
    async_std::task::sleep(Duration::from_millis(100)).await;
    Ok(())
}
