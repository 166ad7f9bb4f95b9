//! The library's runtime: the engine's tasks run on async-std's executor,
//! whose threads the library starts with the first server or client; a C
//! call blocks its own thread until its work is done, so a C program needs no
//! event loop.

use netunnel_core::{AsyncStdRuntime, RuntimeRef};

/// The runtime every server and client of the library runs on; the first
/// call sizes its executor (half the cores unless `ASYNC_STD_THREAD_COUNT`
/// says otherwise), as the `netunnel` command does.
pub(crate) fn runtime() -> RuntimeRef {
    AsyncStdRuntime::size_threads();
    AsyncStdRuntime::shared()
}

/// Runs `work` to completion on the calling thread (its I/O and timers are
/// served by the runtime's threads).
pub(crate) fn block_on<F: std::future::Future>(work: F) -> F::Output {
    futures::executor::block_on(work)
}
