//! `Server`: a NETunnel server run from Python.

use std::sync::{Arc, Mutex};

use netunnel_core::{Server as CoreServer, ServerOptions};
use pyo3::prelude::*;

use crate::errors::NETunnelServerError;

/// A server: `await Server.start(...)`, `port`, `url`, `await stop()`.
#[pyclass(module = "netunnel._native", frozen)]
pub(crate) struct Server {
    server: Arc<Mutex<Option<CoreServer>>>,
    port: u16,
    url: String,
    instance: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::logging::disown(&self.instance);
    }
}

fn running(server: &Mutex<Option<CoreServer>>) -> Option<CoreServer> {
    server.lock().ok().and_then(|guard| guard.clone())
}

/// The logger routing of a server being started: undone when dropped
/// unless the start succeeded.
struct Routed(Option<String>);

impl Routed {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        if let Some(instance) = self.0.take() {
            crate::logging::disown(&instance);
        }
    }
}

#[pymethods]
impl Server {
    /// Starts a server and returns it once it listens (port 0: any free one).
    /// `auth` is a `NETunnelServerAuth`; its coroutines run on the loop this
    /// is awaited on. `logger` (a `logging.Logger`) gets this server's
    /// records. With `tls_cert` and `tls_key` (PEM files) it serves HTTPS.
    /// With `metrics`, `GET /metrics` answers (behind `auth`).
    #[staticmethod]
    #[pyo3(signature = (host, port, config_path=None, secret_key=None, environment=true, auth=None, logger=None, tls_cert=None, tls_key=None, metrics=false))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, not a Rust API.
    fn start(
        py: Python<'_>,
        host: String,
        port: u16,
        config_path: Option<String>,
        secret_key: Option<String>,
        environment: bool,
        auth: Option<Py<PyAny>>,
        logger: Option<Py<PyAny>>,
        tls_cert: Option<String>,
        tls_key: Option<String>,
        metrics: bool,
    ) -> PyResult<Bound<'_, PyAny>> {
        let mut options = ServerOptions::new()
            .host(host)
            .port(port)
            .environment(environment)
            .metrics(metrics);
        if let Some(plugin) = auth {
            options = options.auth(crate::plugins::server_auth(py, plugin)?);
        }
        if let Some(path) = config_path {
            options = options.config_path(path);
        }
        if let Some(key) = secret_key {
            options = options.secret_key(key);
        }
        match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => options = options.tls_files(cert, key),
            (None, None) => {}
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "tls_cert and tls_key go together",
                ))
            }
        }
        // Routed before the start, so its records (listening, restored
        // static tunnels, a failure) reach the logger too.
        let instance = options.instance().to_string();
        if let Some(logger) = logger {
            crate::logging::own(py, instance.clone(), logger)?;
        }
        // A failed or cancelled start lets go of the logger.
        let routed = Routed(Some(instance.clone()));
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            let server = CoreServer::start(options)
                .await
                .map_err(crate::errors::to_py)?;
            routed.keep();
            Ok(Server {
                port: server.local_addr().port(),
                url: server.url(),
                server: Arc::new(Mutex::new(Some(server))),
                instance,
            })
        })
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The URL clients reach it at.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// Channels and their tunnels: `[(channel_id, [tunnel_id, ...]), ...]`.
    fn channels(&self, py: Python<'_>) -> PyResult<Vec<(u64, Vec<u64>)>> {
        let server = running(&self.server)
            .ok_or_else(|| NETunnelServerError::new_err("the server is stopped"))?;
        // Without the GIL: the engine's locks are never waited on with it.
        Ok(py.detach(|| {
            server
                .channels()
                .into_iter()
                .map(|channel| (channel.id, channel.tunnels))
                .collect()
        }))
    }

    /// What the server carries and has carried, in the Prometheus text
    /// format (what `GET /metrics` answers).
    fn metrics(&self, py: Python<'_>) -> PyResult<String> {
        let server = running(&self.server)
            .ok_or_else(|| NETunnelServerError::new_err("the server is stopped"))?;
        Ok(py.detach(|| server.core().metrics().to_prometheus()))
    }

    /// Stops listening and closes every channel; completes once all is gone.
    /// Stopping twice is fine.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let server = self.server.lock().ok().and_then(|mut guard| guard.take());
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            if let Some(server) = server {
                server.stop().await;
            }
            Ok(())
        })
    }
}
