//! Many connections held open at once: each one echoes a message when it
//! opens, all of them stay open for a pause, then each echoes again.
//!
//! Prints `hold-opened ...` as soon as the opening phase ends (the caller reads
//! the memory of the processes under test during the pause), then `hold ...`
//! with the count of connections whose two echoes both came back intact.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_std::future::timeout;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use async_std::task;
use futures::{Stream, StreamExt};

use crate::protocol::{self, ECHO_LEN};
use crate::report;

/// How long one connect or echo may take before that connection counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to hold.
#[derive(Debug, Clone, clap::Args)]
pub struct HoldArgs {
    /// Where to connect.
    #[arg(long)]
    pub target: SocketAddr,
    /// How many connections to hold open at once.
    #[arg(long, default_value_t = 8000)]
    pub count: u64,
    /// Seconds to keep them all open between the two echoes.
    #[arg(long, default_value_t = 3.0)]
    pub pause: f64,
    /// Connections being opened at the same time (the others wait their turn).
    #[arg(long, default_value_t = 256)]
    pub parallel: usize,
    /// Seconds the opening phase (and, separately, the closing phase) may last
    /// in all; connections not done by then count as timed out.
    #[arg(long, default_value_t = 30.0)]
    pub phase_seconds: f64,
}

/// How a phase ended, per connection.
#[derive(Debug, Default)]
struct Tally<T> {
    /// What succeeded.
    ok: Vec<T>,
    /// Connections that failed.
    failed: u64,
    /// The first failure, to show.
    first_error: Option<String>,
}

/// Runs the hold and prints its two lines.
pub fn run(args: &HoldArgs) -> Result<()> {
    task::block_on(async {
        let phase = Duration::from_secs_f64(args.phase_seconds);
        let start = Instant::now();
        let target = args.target;
        let opening = futures::stream::iter(0..args.count)
            .map(move |id| open(target, id))
            .buffer_unordered(args.parallel.max(1));
        let opened = collect(opening, phase).await;
        let open_seconds = start.elapsed().as_secs_f64();
        let open_timed_out = args.count - opened.ok.len() as u64 - opened.failed;
        report::line(
            "hold-opened",
            &[
                ("ok", opened.ok.len().to_string()),
                ("failed", opened.failed.to_string()),
                ("timed_out", open_timed_out.to_string()),
                ("seconds", format!("{open_seconds:.3}")),
            ],
        );
        task::sleep(Duration::from_secs_f64(args.pause)).await;
        let echoing = futures::stream::iter(opened.ok)
            .map(|(id, stream)| echo_again(id, stream))
            .buffer_unordered(args.parallel.max(1));
        let closed = collect(echoing, phase).await;
        let held = opened.failed + open_timed_out;
        let second_timed_out = args.count - held - closed.ok.len() as u64 - closed.failed;
        for error in [&opened.first_error, &closed.first_error]
            .into_iter()
            .flatten()
        {
            eprintln!("hold: first failure: {error}");
        }
        report::line(
            "hold",
            &[
                ("count", args.count.to_string()),
                ("ok", closed.ok.len().to_string()),
                ("open_failed", opened.failed.to_string()),
                ("open_timed_out", open_timed_out.to_string()),
                ("second_failed", closed.failed.to_string()),
                ("second_timed_out", second_timed_out.to_string()),
            ],
        );
        Ok(())
    })
}

/// Gathers what `results` yields until it ends or `limit` has passed.
async fn collect<T>(results: impl Stream<Item = Result<T>>, limit: Duration) -> Tally<T> {
    let deadline = Instant::now() + limit;
    let mut tally = Tally {
        ok: Vec::new(),
        failed: 0,
        first_error: None,
    };
    futures::pin_mut!(results);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, results.next()).await {
            Ok(Some(Ok(value))) => tally.ok.push(value),
            Ok(Some(Err(err))) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
            Ok(None) | Err(_) => return tally,
        }
    }
}

/// Opens connection `id` and does its first echo.
async fn open(target: SocketAddr, id: u64) -> Result<(u64, TcpStream)> {
    let mut stream = timeout(OP_TIMEOUT, TcpStream::connect(target))
        .await
        .context("connect timed out")?
        .context("connect")?;
    echo(&mut stream, id, 0).await.context("first echo")?;
    Ok((id, stream))
}

/// Does the second echo of connection `id`, then closes it.
async fn echo_again(id: u64, mut stream: TcpStream) -> Result<()> {
    echo(&mut stream, id, 1).await.context("second echo")
}

/// One checked echo of message `round` of connection `id`.
async fn echo(stream: &mut TcpStream, id: u64, round: u64) -> Result<()> {
    let message = protocol::echo_message(id, round);
    let exchange = async {
        stream.write_all(&message).await?;
        let mut answer = [0u8; ECHO_LEN];
        stream.read_exact(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = timeout(OP_TIMEOUT, exchange)
        .await
        .context("timed out")?
        .context("i/o")?;
    anyhow::ensure!(answer == message, "the echo differs from what was sent");
    Ok(())
}
