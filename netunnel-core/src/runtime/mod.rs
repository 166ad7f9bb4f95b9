//! The runtime seam: everything the core needs from an async executor.
//!
//! The core never names an executor. It receives an `Arc<dyn Runtime>` and uses it
//! to spawn tasks, sleep, listen on and connect to TCP. One file per runtime,
//! each behind its feature: `async_std.rs` (`AsyncStdRuntime`, async-std's
//! global executor, the default) and `smol.rs` (`SmolRuntime`, an executor with
//! threads of its own that its owner shuts down).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite};

#[cfg(feature = "async-std")]
mod async_std;
#[cfg(feature = "smol")]
mod smol;

#[cfg(feature = "async-std")]
pub use self::async_std::AsyncStdRuntime;
#[cfg(feature = "smol")]
pub use self::smol::SmolRuntime;

/// A byte stream the core can tunnel: TCP, TLS or an upgraded HTTP connection.
/// Closing it (`poll_close`) must end its writing half, as a TCP shutdown of
/// writing does (the other side reads end of file) while reading goes on:
/// tunnels carry half-closed connections that way. The connections a
/// [`Runtime`] makes and accepts do.
pub trait Conn: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Conn for T {}

/// An owned, type-erased [`Conn`].
pub type BoxConn = Box<dyn Conn>;

/// A bound TCP listener.
pub trait Listener: Send + Sync {
    /// Waits for the next connection. Sockets have `TCP_NODELAY` set.
    fn accept(&self) -> BoxFuture<'_, io::Result<(BoxConn, SocketAddr)>>;
    /// The address actually bound (so port 0 can be resolved).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// The executor services the core uses. Implementations must be cheap to call
/// from any thread.
pub trait Runtime: Send + Sync + 'static {
    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<'static, ()>);
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// Binds a TCP listener on `host:port` (port 0 picks a free port).
    fn listen(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
    /// Connects to `host:port`, resolving names, with `TCP_NODELAY` set.
    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxConn>>;
    /// Runs blocking `work` (a configuration file write) on a thread where it
    /// cannot stall the tasks; completes once it has run.
    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()>;
}

/// Shared handle to a [`Runtime`].
pub type RuntimeRef = Arc<dyn Runtime>;

/// Runs blocking `work` through [`Runtime::unblock`] and returns its result;
/// `None` if it panicked.
pub async fn unblock<T, W>(rt: &dyn Runtime, work: W) -> Option<T>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    let (sender, receiver) = futures::channel::oneshot::channel();
    rt.unblock(Box::new(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = sender.send(outcome);
    }))
    .await;
    receiver.await.ok()?.ok()
}

/// Runs `future` with a deadline: `None` when `duration` passed first.
pub async fn timeout<F: std::future::Future>(
    rt: &dyn Runtime,
    duration: Duration,
    future: F,
) -> Option<F::Output> {
    use futures::future::{select, Either};
    let future = std::pin::pin!(future);
    match select(future, rt.sleep(duration)).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(((), _)) => None,
    }
}
