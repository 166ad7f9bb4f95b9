//! Adaptive read-ahead under a websocket.
//!
//! tungstenite reads at most its read-buffer size per call (2 KiB here, see
//! [`crate::ws::config`]), so without help a 64 KiB frame would cost 32 `recv`
//! calls. A larger read buffer would cost every held connection its size in
//! resident memory.
//! [`ReadAhead`] gets both: while reads are small it passes them straight
//! through and holds no buffer; once a read fills the caller's buffer (a bulk
//! transfer), it reads [`BULK_READ`] bytes at a time into a buffer of its own and
//! serves the caller from it, and it frees that buffer when traffic turns small
//! again.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite, IoSlice};

use crate::runtime::BoxConn;

/// Bytes read at a time while a transfer is in bulk: one full frame.
pub(crate) const BULK_READ: usize = 64 * 1024;

/// A [`BoxConn`] whose reads are batched while the traffic is bulk. Writes pass
/// straight through.
pub(crate) struct ReadAhead {
    inner: BoxConn,
    /// Read-ahead bytes; empty (unallocated) unless in bulk.
    buffer: Vec<u8>,
    /// Start of the bytes of `buffer` not yet handed out.
    start: usize,
    /// End of the bytes read into `buffer`.
    end: usize,
    /// Whether the next read from `inner` goes through `buffer`.
    bulk: bool,
}

impl ReadAhead {
    /// Wraps `inner`; no buffer is allocated until a read fills its caller's buffer.
    pub(crate) fn new(inner: BoxConn) -> Self {
        ReadAhead {
            inner,
            buffer: Vec::new(),
            start: 0,
            end: 0,
            bulk: false,
        }
    }

    /// Hands out buffered bytes; frees the buffer once drained outside bulk.
    fn hand_out(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buffer[self.start..self.start + n]);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if !self.bulk {
                self.buffer = Vec::new();
            }
        }
        n
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.start < this.end {
            return Poll::Ready(Ok(this.hand_out(out)));
        }
        if !this.bulk {
            let n = std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, out))?;
            this.bulk = n == out.len();
            return Poll::Ready(Ok(n));
        }
        if this.buffer.len() < BULK_READ {
            this.buffer = vec![0; BULK_READ];
        }
        let n = match Pin::new(&mut this.inner).poll_read(cx, &mut this.buffer) {
            Poll::Ready(result) => result?,
            Poll::Pending => {
                // Nothing to read now: the connection may stay idle for long,
                // and must not hold the buffer meanwhile.
                this.buffer = Vec::new();
                return Poll::Pending;
            }
        };
        // A read that did not even fill the caller's buffer: traffic is small again.
        this.bulk = n >= out.len();
        this.start = 0;
        this.end = n;
        if n == 0 {
            this.buffer = Vec::new();
            return Poll::Ready(Ok(0));
        }
        Poll::Ready(Ok(this.hand_out(out)))
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::{AsyncReadExt, Cursor};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A connection that yields `data` in reads of at most `chunk` bytes and
    /// counts the reads it was asked for.
    struct Chunked {
        data: Cursor<Vec<u8>>,
        chunk: Arc<AtomicUsize>,
        reads: Arc<AtomicUsize>,
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.reads.fetch_add(1, Ordering::Relaxed);
            let chunk = this.chunk.load(Ordering::Relaxed);
            if chunk == 0 {
                // Nothing has arrived (the test polls again by hand).
                return Poll::Pending;
            }
            let n = out.len().min(chunk);
            Pin::new(&mut this.data).poll_read(cx, &mut out[..n])
        }
    }

    impl AsyncWrite for Chunked {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// The connection, its count of reads, and its read size (changeable; 0:
    /// nothing to read yet).
    fn chunked(data: &[u8], chunk: usize) -> (ReadAhead, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let chunk = Arc::new(AtomicUsize::new(chunk));
        let conn = ReadAhead::new(Box::new(Chunked {
            data: Cursor::new(data.to_vec()),
            chunk: chunk.clone(),
            reads: reads.clone(),
        }));
        (conn, reads, chunk)
    }

    /// Reads `len` bytes in `read`-byte calls (fewer at EOF).
    fn take(conn: &mut ReadAhead, len: usize, read: usize) -> Vec<u8> {
        futures::executor::block_on(async {
            let mut all = Vec::new();
            let mut buf = vec![0; read];
            while all.len() < len {
                let want = read.min(len - all.len());
                let n = conn.read(&mut buf[..want]).await.expect("read");
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            all
        })
    }

    #[test]
    fn bulk_reads_are_batched_and_every_byte_arrives_in_order() {
        let data = pattern(1 << 20);
        let (mut conn, reads, _) = chunked(&data, usize::MAX);
        assert_eq!(take(&mut conn, usize::MAX, 8192), data);
        // Passed through, 8 KiB reads would take 128 calls (plus the one at EOF);
        // read ahead: one 8 KiB call, then 64 KiB ones.
        let calls = reads.load(Ordering::Relaxed);
        assert!(calls <= 2 + (1 << 20) / BULK_READ, "{calls} reads");
        assert!(conn.buffer.is_empty(), "the buffer is freed at EOF");
    }

    #[test]
    fn small_reads_pass_through_without_a_buffer() {
        let data = pattern(64 * 100);
        // The peer's data arrives 64 bytes at a time, the caller asks for 8 KiB.
        let (mut conn, reads, _) = chunked(&data, 64);
        assert_eq!(take(&mut conn, 64 * 10, 8192), &data[..640]);
        assert_eq!(reads.load(Ordering::Relaxed), 10);
        assert_eq!(conn.buffer.capacity(), 0);
    }

    #[test]
    fn the_buffer_is_freed_when_traffic_turns_small() {
        let data = pattern(300_000);
        // Bulk first: the inner connection fills whatever it is given.
        let (mut conn, _, chunk) = chunked(&data, usize::MAX);
        let got = take(&mut conn, 200_000, 8192);
        assert!(
            !conn.buffer.is_empty(),
            "in bulk, reads go through the buffer"
        );
        // Now the inner connection gives 100 bytes per read: small traffic.
        chunk.store(100, Ordering::Relaxed);
        let rest = take(&mut conn, usize::MAX, 8192);
        assert_eq!([got, rest].concat(), data);
        assert!(conn.buffer.is_empty());
    }

    #[test]
    fn a_connection_waiting_for_data_holds_no_buffer() {
        let data = pattern(300_000);
        let (mut conn, _, chunk) = chunked(&data, usize::MAX);
        let mut got = take(&mut conn, 100_000, 8192);
        // Exactly what is buffered, so no read reaches the connection.
        let buffered = conn.end - conn.start;
        got.extend(take(&mut conn, buffered, 8192));
        assert!(conn.bulk, "still in bulk");
        chunk.store(0, Ordering::Relaxed);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut buf = [0; 8192];
        assert!(Pin::new(&mut conn)
            .poll_read(&mut cx, &mut buf)
            .is_pending());
        assert_eq!(
            conn.buffer.capacity(),
            0,
            "an idle connection holds no buffer"
        );
        chunk.store(usize::MAX, Ordering::Relaxed);
        got.extend(take(&mut conn, usize::MAX, 8192));
        assert_eq!(got, data);
    }
}
