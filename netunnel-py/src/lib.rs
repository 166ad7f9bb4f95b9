//! `netunnel._native`: the NETunnel engine (netunnel-core) for the Python
//! package in `python/netunnel`, which gives it NETunnel 1.0.x's API. Every
//! call that waits returns an asyncio awaitable; the work runs on the
//! engine's threads, never on the event loop.

use pyo3::prelude::*;

mod client;
mod config;
mod errors;
mod logging;
mod plugins;
mod secret;
mod server;
mod tunnel;

/// The module: classes, exceptions, version, and logging into Python's
/// `logging` (targets `netunnel::server` become loggers `netunnel.server`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // As the `netunnel` command: half the cores unless ASYNC_STD_THREAD_COUNT.
    netunnel_core::AsyncStdRuntime::size_threads();
    logging::install(m.py())?;
    m.add_function(wrap_pyfunction!(logging::close_logging, m)?)?;
    m.add("__version__", netunnel_core::VERSION)?;
    errors::register(m)?;
    secret::register(m)?;
    m.add_function(wrap_pyfunction!(config::default_config_json, m)?)?;
    m.add_class::<server::Server>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<tunnel::Tunnel>()?;
    m.add_class::<plugins::BuiltinServerAuth>()?;
    m.add_class::<plugins::BuiltinClientAuth>()?;
    Ok(())
}
