//! New-connection rate and latency: each client loops connect, one 64-byte
//! echo (checked), close, until the time is up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::protocol::{self, ECHO_LEN};
use crate::{report, stats};

/// How long a connect, write or read may block before that connection counts
/// as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What one client thread did.
#[derive(Default)]
struct Outcome {
    /// Time of each successful connection, connect to close.
    latencies: Vec<Duration>,
    /// Failed connections.
    errors: u64,
    /// The first failure, to show.
    first_error: Option<String>,
}

/// Runs `clients` client threads for `seconds` and prints the `connrate` line.
pub fn run(target: SocketAddr, clients: u32, seconds: f64) -> Result<()> {
    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let deadline = start + duration;
    let workers = (0..clients)
        .map(|client| {
            thread::Builder::new()
                .name(format!("client-{client}"))
                .spawn(move || client_loop(target, u64::from(client), deadline))
                .context("cannot start a client thread")
        })
        .collect::<Result<Vec<_>>>()?;
    let mut total = Outcome::default();
    for worker in workers {
        let outcome = worker
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))?;
        total.latencies.extend(outcome.latencies);
        total.errors += outcome.errors;
        total.first_error = total.first_error.or(outcome.first_error);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(error) = &total.first_error {
        eprintln!(
            "connrate: {} failed connections; first: {error}",
            total.errors
        );
    }
    if total.latencies.is_empty() {
        bail!("no connection succeeded");
    }
    total.latencies.sort_unstable();
    let ok = total.latencies.len();
    report::line(
        "connrate",
        &[
            ("clients", clients.to_string()),
            ("ok", ok.to_string()),
            ("errors", total.errors.to_string()),
            ("seconds", format!("{elapsed:.3}")),
            ("per_s", format!("{:.0}", ok as f64 / elapsed)),
            (
                "p50_ms",
                stats::millis(stats::percentile(&total.latencies, 50.0)),
            ),
            (
                "p99_ms",
                stats::millis(stats::percentile(&total.latencies, 99.0)),
            ),
        ],
    );
    Ok(())
}

/// One client: connections one after the other until `deadline`.
fn client_loop(target: SocketAddr, client: u64, deadline: Instant) -> Outcome {
    let mut outcome = Outcome::default();
    let mut round = 0u64;
    while Instant::now() < deadline {
        let began = Instant::now();
        match one_connection(target, client, round) {
            Ok(()) => outcome.latencies.push(began.elapsed()),
            Err(err) => {
                outcome.errors += 1;
                outcome
                    .first_error
                    .get_or_insert_with(|| format!("{err:#}"));
            }
        }
        round += 1;
    }
    outcome
}

/// Connect, send one echo message, read it back and compare, close.
fn one_connection(target: SocketAddr, client: u64, round: u64) -> Result<()> {
    let mut stream = TcpStream::connect_timeout(&target, IO_TIMEOUT).context("connect")?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let message = protocol::echo_message(client, round);
    stream.write_all(&message).context("write")?;
    let mut answer = [0u8; ECHO_LEN];
    stream.read_exact(&mut answer).context("read the echo")?;
    if answer != message {
        bail!("the echo differs from what was sent");
    }
    Ok(())
}
