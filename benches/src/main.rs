//! `netunnel-bench`: the native load generator and test service that
//! `scripts/bench` runs against the service directly, through our tunnels and
//! through NETunnel 1.0.13. Every result is one `KIND key=value ...` line on
//! stdout; every echoed or transferred byte is checked.

mod connrate;
mod cpu;
mod hold;
mod pattern;
mod ports;
mod protocol;
mod relay;
mod report;
mod service;
mod sink;
mod startup;
mod stats;
mod throughput;

use std::net::SocketAddr;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load generator and test service for benchmarking NETunnel.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve echo, upload and download on one port until killed; prints `port=N`.
    Echo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on (0: any free port).
        #[arg(short, long, default_value_t = 0)]
        port: u16,
    },
    /// Bulk transfer, one stream, one way, every byte checked; prints MB/s.
    Throughput {
        /// Where the service (or a tunnel entrance to it) listens.
        #[arg(long)]
        target: SocketAddr,
        /// `up`: to the service; `down`: from the service.
        #[arg(long, value_enum)]
        direction: throughput::Direction,
        /// How long to send.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Clients that loop connect, 64-byte echo (checked), close; prints the
    /// rate and latency percentiles.
    Connrate {
        /// Where the service (or a tunnel entrance to it) listens.
        #[arg(long)]
        target: SocketAddr,
        /// Concurrent clients.
        #[arg(long, default_value_t = 1)]
        clients: u32,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Hold many connections open, each echoing before and after a pause.
    Hold(hold::HoldArgs),
    /// Time from launching a server to its first accepted connection (median).
    Startup {
        /// Launches to make.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// The server's command line; `{port}` stands for the port to use.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Relay every connection to `--to` over a new TCP connection of its own.
    Relay {
        /// Port to listen on, on 127.0.0.1 (0: any free port).
        #[arg(short, long, default_value_t = 0)]
        port: u16,
        /// The next hop.
        #[arg(long)]
        to: SocketAddr,
        /// One-way delay in milliseconds added to every byte each way, and
        /// a round trip of it before a new connection carries anything (its
        /// TCP handshake): a WAN link between the two sides.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Print a port on 127.0.0.1 that is free now.
    FreePort,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    raise_open_file_limit();
    match cli.command {
        Cmd::Echo { host, port } => service::run(&host, port),
        Cmd::Throughput {
            target,
            direction,
            seconds,
        } => throughput::run(target, direction, seconds),
        Cmd::Connrate {
            target,
            clients,
            duration,
        } => connrate::run(target, clients, duration),
        Cmd::Hold(args) => hold::run(&args),
        Cmd::Startup { runs, command } => startup::run(runs, &command),
        Cmd::Relay { port, to, delay_ms } => {
            relay::run(port, to, std::time::Duration::from_millis(delay_ms))
        }
        Cmd::FreePort => {
            report::line("free-port", &[("port", ports::free_port()?.to_string())]);
            Ok(())
        }
    }
}

/// Raises the soft limit of open files to the hard one: the service and the
/// hold generator each keep thousands of sockets.
fn raise_open_file_limit() {
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("netunnel-bench: cannot raise the open-file limit: {err}");
    }
}
