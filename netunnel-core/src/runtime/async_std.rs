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

struct AsyncStdListener(TcpListener);

impl Listener for AsyncStdListener {
    fn accept(&self) -> BoxFuture<'_, io::Result<(BoxConn, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await?;
            stream.set_nodelay(true)?;
            Ok((Box::new(stream) as BoxConn, peer))
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
            Ok(Box::new(stream) as BoxConn)
        })
    }

    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        Box::pin(::async_std::task::spawn_blocking(work))
    }
}
