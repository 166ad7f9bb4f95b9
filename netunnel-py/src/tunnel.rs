//! `Tunnel`: an open tunnel as Python sees it.

use netunnel_core::client::Tunnel as CoreTunnel;
use pyo3::prelude::*;

use crate::errors::IntoPy;

/// An open tunnel: its ends, whether it runs, and how to stop it.
#[pyclass(module = "netunnel._native", frozen)]
pub(crate) struct Tunnel {
    tunnel: CoreTunnel,
}

impl Tunnel {
    pub(crate) fn new(tunnel: CoreTunnel) -> Tunnel {
        Tunnel { tunnel }
    }
}

#[pymethods]
impl Tunnel {
    /// The tunnel's id on its channel.
    #[getter]
    fn id(&self) -> u64 {
        self.tunnel.info().id
    }

    /// Whether connections enter on the server.
    #[getter]
    fn reverse(&self) -> bool {
        self.tunnel.info().reverse
    }

    /// Where connections enter: `(address, port)`.
    #[getter]
    fn entrance(&self) -> (String, u16) {
        self.tunnel.info().entrance.clone()
    }

    /// Where connections go: `(address, port)`.
    #[getter]
    fn exit(&self) -> (String, u16) {
        self.tunnel.info().exit.clone()
    }

    /// Whether the tunnel still carries connections.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        py.detach(|| !self.tunnel.is_stopped())
    }

    /// Whether the tunnel can take a connection now.
    fn health_check(&self, py: Python<'_>) -> bool {
        py.detach(|| self.tunnel.health_check())
    }

    /// Stops it here and on the server; `force` cuts open connections,
    /// otherwise they finish first. Stopping twice is fine.
    fn stop<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        let tunnel = self.tunnel.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            if force {
                tunnel.close().await.py()
            } else {
                tunnel.drain().await.py()
            }
        })
    }

    /// Stops it here only (the server is not told); `force` cuts open
    /// connections, otherwise they finish first.
    fn stop_local<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        let tunnel = self.tunnel.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            if force {
                tunnel.stop_local().await;
            } else {
                tunnel.drain_local().await;
            }
            Ok(())
        })
    }

    /// Completes once the tunnel stopped.
    fn join<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stopped = self.tunnel.stopped();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            stopped.await;
            Ok(())
        })
    }
}
