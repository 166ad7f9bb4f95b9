//! Bulk throughput, one stream in one direction, every byte checked.
//!
//! Up: the client sends the pattern stream in frames for the given time, then
//! an empty frame, and waits for the service's [`UploadReport`], which must
//! count every byte sent and find none wrong. Down: the service sends the pattern
//! stream and the client checks every byte it reads for the given time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::pattern;
use crate::protocol::{self, UploadReport, FRAME_HEADER, REPORT_LEN};
use crate::report;

/// How long a single read or write may block before the transfer fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Direction {
    /// Load generator -> service.
    Up,
    /// Service -> load generator.
    Down,
}

/// Runs one transfer for `seconds` and prints its `throughput` line.
pub fn run(target: SocketAddr, direction: Direction, seconds: f64) -> Result<()> {
    let duration = Duration::from_secs_f64(seconds);
    let stream = TcpStream::connect_timeout(&target, IO_TIMEOUT)
        .with_context(|| format!("cannot connect to {target}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let start = Instant::now();
    let (bytes, name) = match direction {
        Direction::Up => (upload(stream, duration)?, "up"),
        Direction::Down => (download(stream, duration)?, "down"),
    };
    let elapsed = start.elapsed().as_secs_f64();
    report::line(
        "throughput",
        &[
            ("direction", name.to_string()),
            ("bytes", bytes.to_string()),
            ("seconds", format!("{elapsed:.3}")),
            ("mb_per_s", report::fixed2(bytes as f64 / elapsed / 1e6)),
            ("checked", "all".to_string()),
        ],
    );
    Ok(())
}

/// Sends the pattern for `duration`; returns the bytes the service checked.
fn upload(mut stream: TcpStream, duration: Duration) -> Result<u64> {
    let start = Instant::now();
    stream.write_all(&[protocol::UPLOAD]).context("upload")?;
    let mut sent = 0u64;
    while start.elapsed() < duration {
        let chunk = pattern::slice(sent, pattern::CHUNK);
        stream
            .write_all(&frame_header(chunk.len()))
            .context("upload")?;
        stream.write_all(chunk).context("upload")?;
        sent += chunk.len() as u64;
    }
    stream.write_all(&frame_header(0)).context("upload")?;
    let mut answer = [0u8; REPORT_LEN];
    stream
        .read_exact(&mut answer)
        .context("no upload report from the service")?;
    let report = UploadReport::decode(&answer)?;
    if let Some(bad) = report.first_bad {
        bail!("the service received a wrong byte at offset {bad}");
    }
    if report.received != sent {
        bail!(
            "sent {sent} bytes, the service received {}",
            report.received
        );
    }
    Ok(sent)
}

/// The header of an upload frame of `len` bytes.
fn frame_header(len: usize) -> [u8; FRAME_HEADER] {
    // Frames are at most pattern::CHUNK long: the length always fits.
    (len as u32).to_le_bytes()
}

/// Reads and checks the pattern for `duration`; returns the bytes checked.
fn download(mut stream: TcpStream, duration: Duration) -> Result<u64> {
    let start = Instant::now();
    stream
        .write_all(&[protocol::DOWNLOAD])
        .context("download")?;
    let mut buffer = vec![0u8; pattern::CHUNK];
    let mut received = 0u64;
    while start.elapsed() < duration {
        let read = stream.read(&mut buffer).context("download")?;
        if read == 0 {
            bail!("the stream ended after {received} bytes");
        }
        if !pattern::matches(received, &buffer[..read]) {
            bail!("wrong bytes in the {read} bytes at offset {received}");
        }
        received += read as u64;
    }
    Ok(received)
}
