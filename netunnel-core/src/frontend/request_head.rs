//! The first request head of each connection, read before async-h1 sees it,
//! within bounds of size and time. Alone, async-h1 buffers a header line of
//! any length until its end (it checks the size per line), waits 60 s for a
//! head, and answers neither an oversized head nor a slow one: it closes the
//! connection. Here an oversized head is answered 431 and a slow one 408,
//! and neither holds more than [`MAX_HEAD`] bytes of ours.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::runtime::{BoxConn, Runtime};

/// The longest head taken: async-h1 refuses one of 8 KiB or more.
const MAX_HEAD: usize = 8 * 1024 - 1;
/// The most header lines taken (async-h1 parses at most 128).
const MAX_HEADERS: usize = 128;

/// Why a connection's first head was not taken.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] lines: 431.
    TooLarge,
    /// Not complete within the server's request timeout: 408.
    TooSlow,
    /// The client closed, or the connection failed: nothing to answer.
    Gone,
}

/// Reads `conn`'s first request head. On success returns a connection that
/// yields that head (and anything read past it) again, then the rest; on a
/// refusal answers it and returns `None`.
pub(super) async fn first(rt: &dyn Runtime, conn: BoxConn, timeout: Duration) -> Option<BoxConn> {
    let mut conn = conn;
    let mut read = Vec::new();
    let outcome = crate::runtime::timeout(rt, timeout, read_head(&mut conn, &mut read)).await;
    let refusal = match outcome {
        Some(Ok(())) => {
            return Some(Box::new(Replay {
                read,
                at: 0,
                inner: conn,
            }))
        }
        Some(Err(refusal)) => refusal,
        None => Refusal::TooSlow,
    };
    let answer = match refusal {
        Refusal::TooLarge => answer(
            431,
            "Request Header Fields Too Large",
            "too_large",
            &format!("the request head is over {MAX_HEAD} bytes or {MAX_HEADERS} header lines"),
        ),
        Refusal::TooSlow => answer(
            408,
            "Request Timeout",
            "timeout",
            &format!(
                "the request head did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        ),
        Refusal::Gone => return None,
    };
    let written = async {
        conn.write_all(answer.as_bytes()).await?;
        conn.flush().await?;
        conn.close().await
    };
    let _ = crate::runtime::timeout(rt, Duration::from_secs(2), written).await;
    None
}

/// An HTTP answer with a JSON error body, and the connection closed after it.
fn answer(status: u16, reason: &str, kind: &str, message: &str) -> String {
    let body = serde_json::json!({"error": message, "kind": kind}).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads into `read` up to the end of the first head (possibly past it).
async fn read_head(conn: &mut BoxConn, read: &mut Vec<u8>) -> Result<(), Refusal> {
    let mut chunk = [0u8; 1024];
    loop {
        let n = conn.read(&mut chunk).await.map_err(|_| Refusal::Gone)?;
        if n == 0 {
            return Err(Refusal::Gone);
        }
        let searched_from = read.len().saturating_sub(3);
        read.extend_from_slice(&chunk[..n]);
        let end = read[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| searched_from + at + 4);
        let head = &read[..end.unwrap_or(read.len())];
        let lines = head.windows(2).filter(|w| w == b"\r\n").count();
        // The request line, the headers, and the blank line's own CRLF.
        if head.len() > MAX_HEAD || lines > MAX_HEADERS + 2 {
            return Err(Refusal::TooLarge);
        }
        if end.is_some() {
            return Ok(());
        }
    }
}

/// A connection that yields `read[at..]` before reading `inner`.
struct Replay {
    read: Vec<u8>,
    at: usize,
    inner: BoxConn,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.at < this.read.len() {
            let n = buf.len().min(this.read.len() - this.at);
            buf[..n].copy_from_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
