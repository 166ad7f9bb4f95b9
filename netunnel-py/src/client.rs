//! `Client`: a NETunnel client run from Python.

use std::sync::Arc;

use netunnel_core::client::{Client as CoreClient, ClientSettings};
use netunnel_core::frontend::TlsOptions;
use netunnel_core::proxy::ProxySettings;
use netunnel_core::transport::Method;
use netunnel_core::{AsyncStdRuntime, HttpTransport, TransportOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::tunnel::Tunnel;

/// A client of one server. Created unconnected; `await connect()`, then
/// tunnels; `await close()`, and connectable again.
#[pyclass(module = "netunnel._native", frozen)]
pub(crate) struct Client {
    client: CoreClient,
}

impl Drop for Client {
    fn drop(&mut self) {
        crate::logging::disown(&self.client.instance().to_string());
    }
}

#[pymethods]
impl Client {
    /// A client of `server_url`, through an HTTP proxy when `proxy_url` is
    /// given; `ca_file` adds trusted certificates, `insecure` skips checks.
    /// `auth` is a `NETunnelClientAuth` (made on a running loop, where its
    /// coroutines will run), `owner` what its `authenticate` gets as `client`.
    #[new]
    /// `logger` (a `logging.Logger`) gets this client's records.
    #[pyo3(signature = (server_url, proxy_url=None, proxy_username=None, proxy_password=None, ca_file=None, insecure=false, auth=None, owner=None, logger=None))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, not a Rust API.
    fn new(
        py: Python<'_>,
        server_url: &str,
        proxy_url: Option<String>,
        proxy_username: Option<String>,
        proxy_password: Option<String>,
        ca_file: Option<String>,
        insecure: bool,
        auth: Option<Py<PyAny>>,
        owner: Option<Py<PyAny>>,
        logger: Option<Py<PyAny>>,
    ) -> PyResult<Client> {
        let auth = auth
            .map(|plugin| crate::plugins::client_auth(py, plugin, owner))
            .transpose()?;
        if proxy_username.is_some() != proxy_password.is_some() {
            return Err(PyValueError::new_err(
                "proxy_username and proxy_password go together",
            ));
        }
        let options = TransportOptions {
            proxy: proxy_url.map(|url| ProxySettings {
                url,
                username: proxy_username,
                password: proxy_password,
            }),
            tls: TlsOptions {
                ca_cert: ca_file.map(Into::into),
                insecure,
            },
            auth,
        };
        let rt = AsyncStdRuntime::shared();
        let transport = HttpTransport::with_options(rt.clone(), server_url, options).py()?;
        let client = CoreClient::new(rt, Arc::new(transport), ClientSettings::default());
        if let Some(logger) = logger {
            crate::logging::own(py, client.instance().to_string(), logger)?;
        }
        Ok(Client { client })
    }

    /// Whether the control channel is up.
    #[getter]
    fn connected(&self, py: Python<'_>) -> bool {
        // Without the GIL: the engine's locks are never waited on with it.
        py.detach(|| self.client.is_connected())
    }

    /// What this client's tunnels carry and have carried, in the Prometheus
    /// text format.
    fn metrics(&self, py: Python<'_>) -> String {
        py.detach(|| self.client.metrics().to_prometheus())
    }

    /// Creates a channel on the server and connects it.
    fn connect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(
            py,
            async move { client.connect().await.py() },
        )
    }

    /// Closes every tunnel and the channel; not connected: nothing to do.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            client.close().await;
            Ok(())
        })
    }

    /// The server's version.
    fn remote_version<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            client.remote_version().await.py()
        })
    }

    /// A forward tunnel: listens here, connects out from the server.
    #[pyo3(signature = (local_address, local_port, remote_address, remote_port))]
    fn open_tunnel_to_server<'py>(
        &self,
        py: Python<'py>,
        local_address: String,
        local_port: Option<u16>,
        remote_address: String,
        remote_port: u16,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            let tunnel = client
                .open_tunnel_to_server(&local_address, local_port, &remote_address, remote_port)
                .await
                .py()?;
            Ok(Tunnel::new(tunnel))
        })
    }

    /// A reverse tunnel: the server listens, connects out from here.
    #[pyo3(signature = (local_address, local_port, remote_address, remote_port))]
    fn open_tunnel_to_client<'py>(
        &self,
        py: Python<'py>,
        local_address: String,
        local_port: u16,
        remote_address: String,
        remote_port: Option<u16>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            let tunnel = client
                .open_tunnel_to_client(&local_address, local_port, &remote_address, remote_port)
                .await
                .py()?;
            Ok(Tunnel::new(tunnel))
        })
    }

    /// Any REST call (`GET`, `POST`, `DELETE`) with a JSON body text or
    /// `None`; returns the answer's JSON text (NETunnel's error rules apply).
    #[pyo3(signature = (method, path, body=None))]
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: String,
        body: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            other => return Err(PyValueError::new_err(format!("unsupported method {other}"))),
        };
        let body = body
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|err| PyValueError::new_err(format!("the body is not JSON: {err}")))?;
        let client = self.client.clone();
        pyo3_async_runtimes::async_std::future_into_py(py, async move {
            let value = client.request_json(method, &path, body).await.py()?;
            Ok(value.to_string())
        })
    }
}
