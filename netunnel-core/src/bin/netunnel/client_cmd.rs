//! `netunnel client`.

use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use futures::future::{select, Either};
use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::frontend::MetricsEndpoint;
use netunnel_core::AsyncStdRuntime;

/// Flags of `netunnel client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    connection: crate::connect_args::ConnectArgs,
    /// Local address to listen on (forward) or connect to (reverse).
    #[arg(long, default_value = "127.0.0.1")]
    local_address: String,
    /// Local port to listen on (forward; default: any free port) or connect to
    /// (reverse; required).
    #[arg(long)]
    local_port: Option<u16>,
    /// Address on the server's side to connect to (forward) or listen on (reverse).
    #[arg(long, default_value = "127.0.0.1")]
    remote_address: String,
    /// Port on the server's side to connect to (forward; default 22) or listen on
    /// (reverse; default: a free port the server picks).
    #[arg(long)]
    remote_port: Option<u16>,
    /// Reverse the tunnel: the server listens, this side connects.
    #[arg(short, long)]
    reverse: bool,
    #[command(flatten)]
    heartbeat: crate::heartbeat_args::HeartbeatArgs,
    /// Answer `GET /metrics` (the tunnel's, in the Prometheus text format) on
    /// this local port (0: any free port; the output says which).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Address the metrics port listens on.
    #[arg(long, default_value = "127.0.0.1", requires = "metrics_port")]
    metrics_address: String,
    /// Log at debug level.
    #[arg(short, long)]
    pub debug: bool,
}

pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    if args.reverse && args.local_port.is_none() {
        bail!("--local-port is required with --reverse");
    }
    let signal = crate::signals::termination()?;
    let rt = AsyncStdRuntime::shared();
    let transport = args.connection.transport(Arc::clone(&rt))?;
    let server = args.connection.server.clone();
    let side = if args.reverse { "client" } else { "server" };
    println!("Opening tunnel to the {side}...");
    let settings = ClientSettings {
        heartbeat: Some(args.heartbeat.heartbeat()),
        ..ClientSettings::default()
    };
    let client = Client::connected(Arc::clone(&rt), transport, settings)
        .await
        .with_context(|| format!("cannot connect to {}", server))?;
    let opened = match (args.reverse, args.local_port) {
        (true, Some(local_port)) => {
            client
                .open_tunnel_to_client(
                    &args.local_address,
                    local_port,
                    &args.remote_address,
                    args.remote_port,
                )
                .await
        }
        _ => {
            client
                .open_tunnel_to_server(
                    &args.local_address,
                    args.local_port,
                    &args.remote_address,
                    args.remote_port.unwrap_or(22),
                )
                .await
        }
    };
    let tunnel = match opened {
        Ok(tunnel) => tunnel,
        Err(err) => {
            client.close().await;
            return Err(err).context("cannot open the tunnel");
        }
    };
    let info = tunnel.info();
    println!("Tunnel entrance socket: {}", info.entrance_text());
    println!("Tunnel exit socket: {}", info.exit_text());
    let metrics = match args.metrics_port {
        Some(port) => {
            let loopback = args.metrics_address == "localhost"
                || args
                    .metrics_address
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                log::warn!(
                    "the metrics port has no authentication, and {} is not a loopback address",
                    args.metrics_address
                );
            }
            let reading = client.clone();
            let source = Arc::new(move || reading.metrics());
            match MetricsEndpoint::start(rt, &args.metrics_address, port, source).await {
                Ok(endpoint) => {
                    let at = endpoint.local_addr();
                    println!("Metrics: http://{at}/metrics");
                    Some(endpoint)
                }
                Err(err) => {
                    client.close().await;
                    return Err(err).context("cannot serve the metrics");
                }
            }
        }
        None => None,
    };
    let lost = select(client.disconnected(), tunnel.stopped());
    let outcome = select(signal, lost).await;
    if let Some(endpoint) = metrics {
        endpoint.stop().await;
    }
    match outcome {
        Either::Left(_) => {
            log::info!("closing the tunnel");
            client.close().await;
            Ok(())
        }
        Either::Right((Either::Left(_), _)) => {
            bail!("lost the connection to the server {}", server)
        }
        Either::Right((Either::Right(_), _)) => {
            client.close().await;
            bail!("the server closed the tunnel")
        }
    }
}
