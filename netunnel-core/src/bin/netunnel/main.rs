//! `netunnel`: the command line of NETunnel in Rust.

mod auth_args;
mod client_cmd;
mod config_cmd;
mod connect_args;
mod heartbeat_args;
mod key_args;
mod peers_cmd;
mod security_cmd;
mod server_cmd;
mod signals;

use clap::{Parser, Subcommand};
use netunnel_core::instance::safe_to_log;

/// Tunnels of TCP connections over HTTP websockets.
#[derive(Debug, Parser)]
#[command(name = "netunnel", version = netunnel_core::VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a NETunnel server.
    Server(server_cmd::ServerArgs),
    /// Open one tunnel through a NETunnel server and keep it open.
    Client(client_cmd::ClientArgs),
    /// Manage a server's peers and static tunnels.
    Peers(peers_cmd::PeersArgs),
    /// Secret keys and encrypted values.
    #[command(subcommand)]
    Security(security_cmd::SecurityCommand),
    /// Configuration files.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
}

fn init_logging(debug: bool) {
    let ours = if debug { "debug" } else { "info" };
    let filter = format!("warn,netunnel={ours}");
    let logger = env_logger::Builder::new()
        .parse_filters(&filter)
        .parse_env("NETUNNEL_LOG")
        .format_target(false)
        .target(env_logger::Target::Stderr)
        .build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(NoForeignTrace(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// env_logger's logger without other crates' trace records, whatever
/// `NETUNNEL_LOG` asks (see `instance::safe_to_log`).
struct NoForeignTrace(env_logger::Logger);

impl log::Log for NoForeignTrace {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        safe_to_log(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if safe_to_log(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Lets the process hold as many sockets as the hard limit allows.
fn raise_open_files_limit() {
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        log::warn!("cannot raise the open files limit: {err}");
    }
}

/// Sizes async-std's executor unless the user did (`ASYNC_STD_THREAD_COUNT`):
/// half the cores, at least one (see `AsyncStdRuntime::size_threads`).
fn size_executor() {
    netunnel_core::AsyncStdRuntime::size_threads();
}

/// Runs `future` as a task of async-std's executor and parks the main thread
/// without driving the I/O reactor, so the executor threads poll the reactor
/// themselves. (`async_std::task::block_on` would make the idle main thread the
/// reactor's driver, and every I/O event would cross threads to wake its task.)
fn run_on_executor<F>(future: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    futures::executor::block_on(async_std::task::spawn(future))
}

fn main() {
    size_executor();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => {
            init_logging(args.debug);
            raise_open_files_limit();
            run_on_executor(server_cmd::run(args))
        }
        Command::Client(args) => {
            init_logging(args.debug);
            raise_open_files_limit();
            run_on_executor(client_cmd::run(args))
        }
        Command::Peers(args) => {
            init_logging(false);
            run_on_executor(peers_cmd::run(args))
        }
        Command::Security(command) => security_cmd::run(command),
        Command::Config(command) => config_cmd::run(command),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}{}", hint(&err));
        std::process::exit(1);
    }
}

/// What to try next, for errors the library reports without naming our flags.
fn hint(err: &anyhow::Error) -> &'static str {
    let untrusted = err.chain().any(|cause| {
        cause
            .downcast_ref::<netunnel_core::Error>()
            .is_some_and(|err| {
                err.kind() == netunnel_core::ErrorKind::Connection
                    && err.to_string().contains("not trusted")
            })
    });
    if untrusted {
        "; use --ca-cert to trust its CA, or --no-ssl-validate"
    } else {
        ""
    }
}
