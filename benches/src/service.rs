//! The service the load is sent to: echo, upload sink ([`sink`](crate::sink))
//! and download source on one port (the first byte of a connection picks one,
//! see [`protocol`]).
//!
//! Runs on async-std, one task per connection, so it holds thousands of idle
//! connections at the cost of a few KiB each.

use std::io::ErrorKind;
use std::time::Duration;

use anyhow::{Context, Result};
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use futures::StreamExt;

use crate::pattern;
use crate::protocol;

/// Buffer of an echoed connection: echo messages are small.
const ECHO_BUFFER: usize = 4096;

/// Listens on `host:port` (0: any free port), prints `port=N` on stdout and
/// serves until killed.
pub fn run(host: &str, port: u16) -> Result<()> {
    task::block_on(async {
        let listener = TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        let local = listener.local_addr()?;
        crate::report::line(
            "service",
            &[
                ("listening", local.to_string()),
                ("port", local.port().to_string()),
            ],
        );
        let mut incoming = listener.incoming();
        while let Some(accepted) = incoming.next().await {
            match accepted {
                Ok(stream) => {
                    task::spawn(async move {
                        if let Err(err) = serve(stream).await {
                            if !is_peer_gone(&err) {
                                eprintln!("service: connection failed: {err:#}");
                            }
                        }
                    });
                }
                Err(err) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    eprintln!("service: accept failed: {err}");
                    task::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        Ok(())
    })
}

/// Whether `err` only says that the peer closed or reset the connection.
fn is_peer_gone(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>().is_some_and(|io| {
        matches!(
            io.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
        )
    })
}

/// Serves one connection according to its first byte.
async fn serve(mut stream: TcpStream) -> Result<()> {
    let mut first = [0u8; ECHO_BUFFER];
    let read = stream.read(&mut first).await?;
    if read == 0 {
        return Ok(());
    }
    match first[0] {
        protocol::ECHO => echo(stream, first, read).await,
        protocol::UPLOAD => crate::sink::serve(stream, &first[1..read]).await,
        protocol::DOWNLOAD => source(stream).await,
        mode => {
            eprintln!("service: unknown mode byte {mode:#04x}: closing");
            Ok(())
        }
    }
}

/// Sends back `buffer[..filled]`, then every byte that follows, until EOF.
async fn echo(mut stream: TcpStream, mut buffer: [u8; ECHO_BUFFER], filled: usize) -> Result<()> {
    let mut filled = filled;
    while filled > 0 {
        stream.write_all(&buffer[..filled]).await?;
        filled = stream.read(&mut buffer).await?;
    }
    Ok(())
}

/// Sends the pattern stream until the peer goes away.
async fn source(mut stream: TcpStream) -> Result<()> {
    let mut sent = 0u64;
    loop {
        let chunk = pattern::slice(sent, pattern::CHUNK);
        stream.write_all(chunk).await?;
        sent += chunk.len() as u64;
    }
}
