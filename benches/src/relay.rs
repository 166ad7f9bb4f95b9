//! A plain TCP relay: every accepted connection gets its own connection to the
//! next hop, and bytes are copied both ways. Two of them in a chain are the
//! tunnel's topology without the websocket: the ceiling a tunnel is measured
//! against.

use anyhow::{Context, Result};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use futures::io::AsyncWriteExt;
use futures::StreamExt;
use std::net::{Shutdown, SocketAddr};

/// Bytes read at a time, each way: large, as a bulk relay would.
const BUFFER: usize = 64 * 1024;

/// Listens on `127.0.0.1:port` (0: any), prints `port=N`, and relays every
/// connection to `to` until killed.
pub fn run(port: u16, to: SocketAddr) -> Result<()> {
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
                let _ = relay(inbound, to).await;
            });
        }
        Ok(())
    })
}

/// Copies both ways between `inbound` and a new connection to `to`.
async fn relay(inbound: TcpStream, to: SocketAddr) -> Result<()> {
    inbound.set_nodelay(true)?;
    let outbound = TcpStream::connect(to).await?;
    outbound.set_nodelay(true)?;
    let up = copy_then_shutdown(inbound.clone(), outbound.clone());
    let down = copy_then_shutdown(outbound, inbound);
    futures::future::try_join(up, down).await?;
    Ok(())
}

/// Copies `from` to `to` until EOF, then shuts `to` for writing.
async fn copy_then_shutdown(from: TcpStream, mut to: TcpStream) -> Result<()> {
    futures::io::copy_buf(futures::io::BufReader::with_capacity(BUFFER, from), &mut to).await?;
    to.flush().await?;
    let _ = to.shutdown(Shutdown::Write);
    Ok(())
}
