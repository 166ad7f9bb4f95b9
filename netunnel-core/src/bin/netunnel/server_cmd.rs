//! `netunnel server`.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use netunnel_core::server::{ServerCore, ServerSettings};
use netunnel_core::{AsyncStdRuntime, ServerHandle};

/// Flags of `netunnel server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Port to listen on (0: any free port; the log says which).
    #[arg(short, long, default_value_t = 4040)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    hostname: String,
    /// Log at debug level.
    #[arg(short, long)]
    pub debug: bool,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let signal = crate::signals::termination()?;
    let warning =
        "The server is running in stateless mode: tunnels and settings live in memory only";
    if std::io::stderr().is_terminal() {
        eprintln!("\x1b[33m{warning}\x1b[0m");
    } else {
        eprintln!("{warning}");
    }
    let core = ServerCore::new(AsyncStdRuntime::shared(), ServerSettings::default());
    let handle = ServerHandle::start(core, &args.hostname, args.port).await?;
    log::info!("Starting server on {}", handle.local_addr());
    let signal = signal.await.unwrap_or(0);
    log::info!("signal {signal} received; shutting down");
    handle.shutdown();
    // Give channels a moment to send their close frames.
    async_std::task::sleep(Duration::from_millis(100)).await;
    Ok(())
}
