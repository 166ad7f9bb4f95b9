//! A plain TCP relay: every accepted connection gets its own connection to the
//! next hop, and bytes are copied both ways. Two of them in a chain are the
//! tunnel's topology without the websocket: the ceiling a tunnel is measured
//! against. With a delay it is a WAN link instead (this kernel has no
//! `netem`): every byte arrives a fixed time after it was sent, each way, and
//! a new connection carries nothing for one round trip (its handshake).

use anyhow::{Context, Result};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::StreamExt;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// Bytes read at a time, each way: large, as a bulk relay would.
const BUFFER: usize = 64 * 1024;

/// Chunks in flight each way on a delayed link: with 64 KiB chunks, 4 MiB,
/// the most the link holds (its bandwidth-delay product).
const IN_FLIGHT: usize = 64;

/// Listens on `127.0.0.1:port` (0: any), prints `port=N`, and relays every
/// connection to `to`, `delay` late each way, until killed.
pub fn run(port: u16, to: SocketAddr, delay: Duration) -> Result<()> {
    task::block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        let local = listener.local_addr()?;
        crate::report::line("relay", &[("port", local.port().to_string())]);
        let mut incoming = listener.incoming();
        while let Some(accepted) = incoming.next().await {
            let Ok(inbound) = accepted else { continue };
            task::spawn(async move {
                let _ = relay(inbound, to, delay).await;
            });
        }
        Ok(())
    })
}

/// Copies both ways between `inbound` and a new connection to `to`.
async fn relay(inbound: TcpStream, to: SocketAddr, delay: Duration) -> Result<()> {
    inbound.set_nodelay(true)?;
    let outbound = TcpStream::connect(to).await?;
    outbound.set_nodelay(true)?;
    if delay.is_zero() {
        let up = copy_then_shutdown(inbound.clone(), outbound.clone());
        let down = copy_then_shutdown(outbound, inbound);
        futures::future::try_join(up, down).await?;
        return Ok(());
    }
    // The handshake the link would have cost: the client's SYN reaches the
    // far side after one delay (from then on the service may send), and the
    // client may send once the SYN-ACK is back, after two.
    let now = Instant::now();
    let up = copy_delayed(inbound.clone(), outbound.clone(), delay, now + delay * 2);
    let down = copy_delayed(outbound, inbound, delay, now + delay);
    futures::future::try_join(up, down).await?;
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read, or after
/// `may_send` if it was read earlier (the sender could not have sent it
/// before its handshake), until EOF; then shuts `to` for writing (as late).
async fn copy_delayed(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    may_send: Instant,
) -> Result<()> {
    let (chunks, arriving) = async_channel::bounded::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = task::spawn(async move {
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let n = from.read(&mut buffer).await?;
            let due = Instant::now().max(may_send) + delay;
            // An empty chunk is the EOF, delivered late as well.
            if chunks.send((due, buffer[..n].to_vec())).await.is_err() || n == 0 {
                return Ok::<(), std::io::Error>(());
            }
        }
    });
    while let Ok((due, chunk)) = arriving.recv().await {
        let now = Instant::now();
        if due > now {
            task::sleep(due - now).await;
        }
        if chunk.is_empty() {
            break;
        }
        to.write_all(&chunk).await?;
    }
    to.flush().await?;
    let _ = to.shutdown(Shutdown::Write);
    reader.await?;
    Ok(())
}

/// Copies `from` to `to` until EOF, then shuts `to` for writing.
async fn copy_then_shutdown(from: TcpStream, mut to: TcpStream) -> Result<()> {
    futures::io::copy_buf(futures::io::BufReader::with_capacity(BUFFER, from), &mut to).await?;
    to.flush().await?;
    let _ = to.shutdown(Shutdown::Write);
    Ok(())
}
