//! [`Runtime`] on smol, with an executor of its own: an embedder (the C
//! library, a program with no async runtime of its own) chooses its thread
//! count and shuts it down, instead of sharing a process-global executor.
//! Behind the `smol` feature.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{BoxConn, Listener, Runtime};

/// A smol executor with its own threads. [`SmolRuntime::shutdown`] stops the
/// threads and drops every task still there (their sockets close); after it,
/// spawned futures are dropped at once. Tasks hold handles to their runtime, so
/// call `shutdown` rather than count on the last handle going away. A task
/// that panics takes only itself down, not its thread.
///
/// ```
/// use netunnel_core::runtime::SmolRuntime;
/// use netunnel_core::Runtime;
///
/// let rt = SmolRuntime::new(2).expect("threads");
/// let (done, finished) = std::sync::mpsc::channel();
/// rt.spawn(Box::pin(async move { done.send(42).unwrap() }));
/// assert_eq!(finished.recv().unwrap(), 42);
/// rt.shutdown();
/// ```
pub struct SmolRuntime {
    /// `None` once shut down.
    executor: Mutex<Option<Arc<smol::Executor<'static>>>>,
    /// Closing it ends every thread's `run`.
    stop: async_channel::Sender<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolRuntime").finish_non_exhaustive()
    }
}

impl SmolRuntime {
    /// Starts an executor on `threads` threads (at least one), named
    /// `netunnel-N`.
    pub fn new(threads: usize) -> io::Result<Arc<SmolRuntime>> {
        let executor = Arc::new(smol::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let executor = Arc::clone(&executor);
            let stopped = stopped.clone();
            let handle = std::thread::Builder::new()
                .name(format!("netunnel-{n}"))
                .spawn(move || {
                    // A panicking task unwinds out of `run`: go on running.
                    while !stopped.is_closed() {
                        let run = || smol::block_on(executor.run(stopped.recv()));
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_ok() {
                            break;
                        }
                    }
                })?;
            handles.push(handle);
        }
        Ok(Arc::new(SmolRuntime {
            executor: Mutex::new(Some(executor)),
            stop,
            threads: Mutex::new(handles),
        }))
    }

    /// Stops the threads and waits for them (unless called from one of them),
    /// then drops every task still in the executor. Calling it again does
    /// nothing.
    pub fn shutdown(&self) {
        self.stop.close();
        let executor = self
            .executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let handles: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        let me = std::thread::current().id();
        for handle in handles {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        // Outside the lock: a task's drop may spawn (and so find it empty).
        drop(executor);
    }
}

impl Drop for SmolRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct SmolListener(smol::net::TcpListener);

impl Listener for SmolListener {
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

impl Runtime for SmolRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        let executor = self
            .executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(executor) = executor {
            executor.spawn(future).detach();
        }
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(duration).await;
        })
    }

    fn listen(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = smol::net::TcpListener::bind((host.as_str(), port)).await?;
            Ok(Box::new(SmolListener(listener)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxConn>> {
        Box::pin(async move {
            let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxConn)
        })
    }

    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        Box::pin(smol::unblock(work))
    }
}
