//! [`Runtime`] on async-std.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::async_std::net::{TcpListener, TcpStream};
use futures::future::BoxFuture;

use super::{BoxConn, Listener, Runtime, RuntimeRef};

/// The async-std runtime. Stateless: every handle shares async-std's global executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsyncStdRuntime;

impl AsyncStdRuntime {
    /// A shared handle, ready to pass to the core.
    pub fn shared() -> RuntimeRef {
        Arc::new(AsyncStdRuntime)
    }

    /// Sizes async-std's executor to half the cores available to the process
    /// (at least one), unless `ASYNC_STD_THREAD_COUNT` says otherwise. Takes
    /// effect when called before the first task of the process; later calls
    /// do nothing. The kernel's TCP work dominates a tunnel's CPU time: on 2
    /// cores one executor thread per process measured about 30% more
    /// connections per second than two (BENCHMARKS.md). The process
    /// environment is not changed.
    pub fn size_threads() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        async_global_executor::init_with_config(
            async_global_executor::GlobalExecutorConfig::default()
                .with_env_var("ASYNC_STD_THREAD_COUNT")
                .with_min_threads((cores / 2).max(1))
                .with_thread_name_fn(|| "async-std/runtime".to_string()),
        );
    }
}

/// async-std's `TcpStream`, except that closing it shuts down its writing
/// half (a FIN), as the [`super::Conn`] contract asks: async-std's own
/// `poll_close` only flushes.
struct Stream(TcpStream);

impl futures::AsyncRead for Stream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_read_vectored(cx, bufs)
    }
}

impl futures::AsyncWrite for Stream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        futures::ready!(std::pin::Pin::new(&mut self.0).poll_flush(cx))?;
        std::task::Poll::Ready(match self.0.shutdown(std::net::Shutdown::Write) {
            // The other side is gone already: nothing left to end.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
            done => done,
        })
    }
}

struct AsyncStdListener(TcpListener);

impl Listener for AsyncStdListener {
    fn accept(&self) -> BoxFuture<'_, io::Result<(BoxConn, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await?;
            stream.set_nodelay(true)?;
            Ok((Box::new(Stream(stream)) as BoxConn, peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Runtime for AsyncStdRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        ::async_std::task::spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(::async_std::task::sleep(duration))
    }

    fn listen(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = TcpListener::bind((host.as_str(), port)).await?;
            Ok(Box::new(AsyncStdListener(listener)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxConn>> {
        Box::pin(async move {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(Stream(stream)) as BoxConn)
        })
    }

    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        Box::pin(::async_std::task::spawn_blocking(work))
    }
}
