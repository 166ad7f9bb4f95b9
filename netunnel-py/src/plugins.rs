//! Authentication plugins written in Python (NETunnel 1.0.x's
//! `NETunnelServerAuth` / `NETunnelClientAuth` subclasses), run by the Rust
//! server and client. Their coroutines run on the event loop the server was
//! started (or the client connected) on, through the glue in
//! `netunnel/_plugins.py`; the engine awaits them without blocking the loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use netunnel_core::auth::{
    AuthContext, AuthRequest, AuthResponse, ClientAuth, Headers, ServerAuth,
};
use netunnel_core::instance::TARGET_AUTH;
use netunnel_core::Error;
use pyo3::exceptions::{PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_async_runtimes::TaskLocals;

/// A plugin object, the loop its coroutines run on, and the glue module.
struct Plugin {
    object: Arc<Py<PyAny>>,
    locals: TaskLocals,
    /// How long one call may take.
    limit: Duration,
}

impl Plugin {
    fn new(py: Python<'_>, object: Py<PyAny>) -> PyResult<Plugin> {
        Ok(Plugin {
            object: Arc::new(object),
            locals: pyo3_async_runtimes::async_std::get_current_locals(py)?,
            // Read here, on the Python thread: the environment is not read
            // from the engine's threads while Python may be changing it.
            limit: call_timeout(),
        })
    }

    /// Runs the glue coroutine `name(plugin, *args)` on the plugin's loop.
    async fn call(
        &self,
        name: &'static str,
        args: impl for<'py> FnOnce(Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> + Send,
    ) -> PyResult<Py<PyAny>> {
        let waiting = Python::attach(|py| {
            let glue = py.import("netunnel._plugins")?;
            let mut all = vec![self.object.bind(py).clone()];
            all.extend(args(py)?);
            let coroutine = glue
                .getattr(name)?
                .call1(pyo3::types::PyTuple::new(py, all)?)?;
            // On its loop, the call is cancelled when its time is up.
            let bounded = glue
                .getattr("bounded")?
                .call1((self.limit.as_secs_f64(), coroutine))?;
            pyo3_async_runtimes::into_future_with_locals(&self.locals, bounded)
        })?;
        // The same limit from here, for a loop that no longer runs (which
        // would never cancel anything).
        let limit = self.limit + LOOP_GRACE;
        let rt = netunnel_core::AsyncStdRuntime::shared();
        match netunnel_core::runtime::timeout(&*rt, limit, waiting).await {
            Some(result) => result,
            // Its loop stopped running, or the plugin waits on something that
            // never comes: the request is answered instead of held forever.
            None => Err(PyTimeoutError::new_err(format!(
                "{name} did not finish within {:.1} s (is the event loop the plugin was \
                 given still running?)",
                limit.as_secs_f64()
            ))),
        }
    }
}

/// How long one plugin call may take: `NETUNNEL_PLUGIN_TIMEOUT` seconds, or
/// [`DEFAULT_CALL_TIMEOUT`].
fn call_timeout() -> Duration {
    std::env::var("NETUNNEL_PLUGIN_TIMEOUT")
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_CALL_TIMEOUT)
}

/// The default limit of one plugin call (a client plugin may post to its
/// server, so it is generous).
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How much longer than its limit the engine waits for a call whose loop
/// should have cancelled it.
const LOOP_GRACE: Duration = Duration::from_secs(2);

/// The type of a plugin's exception, for logs and answers.
fn kind_of(err: &PyErr) -> String {
    Python::attach(|py| {
        err.get_type(py)
            .name()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "an exception".into())
    })
}

/// A plugin's failure with its text: for the caller of its own client (who
/// wrote the plugin) and debug logs.
fn described(err: &PyErr) -> String {
    Python::attach(|py| {
        let kind = err
            .get_type(py)
            .name()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "exception".into());
        format!("{kind}: {}", err.value(py))
    })
}

fn request_dict<'py>(py: Python<'py>, request: &AuthRequest) -> PyResult<Bound<'py, PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("method", &request.method)?;
    dict.set_item("path", &request.path)?;
    dict.set_item("query_string", &request.query)?;
    dict.set_item("headers", request.headers.clone())?;
    dict.set_item("remote", request.remote_addr.clone())?;
    dict.set_item("scheme", request.scheme)?;
    dict.set_item("body", PyBytes::new(py, &request.body))?;
    Ok(dict.into_any())
}

/// A server plugin written in Python.
pub(crate) struct PyServerAuth(Arc<Plugin>);

impl PyServerAuth {
    pub(crate) fn new(py: Python<'_>, object: Py<PyAny>) -> PyResult<PyServerAuth> {
        Ok(PyServerAuth(Arc::new(Plugin::new(py, object)?)))
    }
}

impl ServerAuth for PyServerAuth {
    fn is_authenticated<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let answer = self
                .0
                .call("is_authenticated", |py| {
                    Ok(vec![request_dict(py, request)?])
                })
                .await;
            match answer {
                Ok(value) => Python::attach(|py| value.extract::<bool>(py).unwrap_or(false)),
                Err(err) => {
                    // Its text at debug only: a plugin's exception may carry
                    // what it was given (a URL with a token, say).
                    log::warn!(target: TARGET_AUTH, "the server plugin's is_authenticated raised {}", kind_of(&err));
                    log::debug!(target: TARGET_AUTH, "is_authenticated raised {}", described(&err));
                    false
                }
            }
        })
    }

    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse> {
        Box::pin(async move {
            let answer = self
                .0
                .call("authenticate", |py| Ok(vec![request_dict(py, request)?]))
                .await
                .and_then(|value| {
                    Python::attach(|py| value.extract::<(u16, Vec<u8>, Vec<(String, String)>)>(py))
                });
            match answer {
                Ok((status, body, headers)) => AuthResponse {
                    status,
                    headers,
                    body,
                },
                Err(err) => {
                    log::warn!(target: TARGET_AUTH, "the server plugin's authenticate raised {}", kind_of(&err));
                    log::debug!(target: TARGET_AUTH, "authenticate raised {}", described(&err));
                    AuthResponse::json(
                        500,
                        &serde_json::json!({"error": "the authentication plugin failed"}),
                    )
                }
            }
        })
    }

    fn client_for_peer<'a>(
        &'a self,
        auth_data: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, netunnel_core::Result<Arc<dyn ClientAuth>>> {
        Box::pin(async move {
            let plugin = Arc::clone(&self.0);
            let object = plugin
                .call("client_for_peer", |py| {
                    let data = PyDict::new(py);
                    for (key, value) in auth_data {
                        data.set_item(key, value)?;
                    }
                    Ok(vec![data.into_any()])
                })
                .await
                .map_err(|err| {
                    // Answered to an API caller: the exception's type only.
                    log::debug!(target: TARGET_AUTH, "get_client_for_peer raised {}", described(&err));
                    let refused = Python::attach(|py| {
                        err.is_instance_of::<PyTypeError>(py) || err.is_instance_of::<PyValueError>(py)
                    });
                    if refused {
                        // As 1.0.x: auth_data the plugin does not take is the caller's mistake.
                        Error::BadRequest(format!(
                            "the authentication plugin refused the peer's auth_data ({})",
                            kind_of(&err)
                        ))
                    } else {
                        Error::plugin(format!("get_client_for_peer raised {}", kind_of(&err)))
                    }
                })?;
            let client = PyClientAuth {
                plugin: Arc::new(Plugin {
                    object: Arc::new(object),
                    locals: plugin.locals.clone(),
                    limit: plugin.limit,
                }),
                client: None,
            };
            Ok(Arc::new(client) as Arc<dyn ClientAuth>)
        })
    }
}

/// A client plugin written in Python; `client` is what its `authenticate`
/// gets as `client` (a weak proxy of the `NETunnelClient`), or a stand-in
/// with `server_url` for a peer.
pub(crate) struct PyClientAuth {
    plugin: Arc<Plugin>,
    client: Option<Arc<Py<PyAny>>>,
}

impl PyClientAuth {
    pub(crate) fn new(
        py: Python<'_>,
        object: Py<PyAny>,
        client: Option<Py<PyAny>>,
    ) -> PyResult<PyClientAuth> {
        Ok(PyClientAuth {
            plugin: Arc::new(Plugin::new(py, object)?),
            client: client.map(Arc::new),
        })
    }
}

impl ClientAuth for PyClientAuth {
    fn authenticate(&self, context: AuthContext) -> BoxFuture<'_, netunnel_core::Result<()>> {
        Box::pin(async move {
            let url = context.server_url().to_string();
            let client = self.client.clone();
            self.plugin
                .call("client_authenticate", move |py| {
                    let client = match &client {
                        Some(client) => client.bind(py).clone(),
                        None => py.None().into_bound(py),
                    };
                    Ok(vec![client, url.into_pyobject(py)?.into_any()])
                })
                .await
                .map(|_| ())
                .map_err(|err| Error::plugin(described(&err)))
        })
    }

    fn is_authenticated(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self
                .plugin
                .call("client_is_authenticated", |_| Ok(Vec::new()))
                .await
            {
                Ok(value) => Python::attach(|py| value.extract::<bool>(py).unwrap_or(false)),
                Err(_) => false,
            }
        })
    }

    fn authorized_headers(&self) -> BoxFuture<'_, netunnel_core::Result<Headers>> {
        Box::pin(async move {
            let value = self
                .plugin
                .call("client_headers", |_| Ok(Vec::new()))
                .await
                .map_err(|err| Error::plugin(described(&err)))?;
            Python::attach(|py| value.extract::<Vec<(String, String)>>(py))
                .map_err(|err| Error::plugin(described(&err)))
        })
    }
}

/// A server plugin built into the engine (`"secret"`, `"none"`), chosen by
/// name as `--auth-plugin secret` does.
#[pyclass(module = "netunnel._native", frozen)]
pub(crate) struct BuiltinServerAuth(pub(crate) Arc<dyn ServerAuth>);

#[pymethods]
impl BuiltinServerAuth {
    /// The built-in plugin `name` with its JSON `data`.
    #[new]
    fn new(name: &str, data: &str) -> PyResult<BuiltinServerAuth> {
        let data = parse_data(data)?;
        netunnel_core::auth::server_plugin(name, &data)
            .map(BuiltinServerAuth)
            .map_err(crate::errors::to_py)
    }
}

/// A client plugin built into the engine, chosen by name.
#[pyclass(module = "netunnel._native", frozen)]
pub(crate) struct BuiltinClientAuth(pub(crate) Arc<dyn ClientAuth>);

#[pymethods]
impl BuiltinClientAuth {
    /// The built-in plugin `name` with its JSON `data`.
    #[new]
    fn new(name: &str, data: &str) -> PyResult<BuiltinClientAuth> {
        let data = parse_data(data)?;
        netunnel_core::auth::client_plugin(name, &data)
            .map(BuiltinClientAuth)
            .map_err(crate::errors::to_py)
    }
}

fn parse_data(data: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(data).map_err(|err| {
        pyo3::exceptions::PyValueError::new_err(format!("the plugin's data is not JSON: {err}"))
    })
}

/// The engine's server plugin for `plugin`: a built-in one as it is, any
/// other object as a Python plugin.
pub(crate) fn server_auth(py: Python<'_>, plugin: Py<PyAny>) -> PyResult<Arc<dyn ServerAuth>> {
    if let Ok(builtin) = plugin.bind(py).cast::<BuiltinServerAuth>() {
        return Ok(Arc::clone(&builtin.get().0));
    }
    Ok(Arc::new(PyServerAuth::new(py, plugin)?))
}

/// The engine's client plugin for `plugin`, as [`server_auth`] does.
pub(crate) fn client_auth(
    py: Python<'_>,
    plugin: Py<PyAny>,
    owner: Option<Py<PyAny>>,
) -> PyResult<Arc<dyn ClientAuth>> {
    if let Ok(builtin) = plugin.bind(py).cast::<BuiltinClientAuth>() {
        return Ok(Arc::clone(&builtin.get().0));
    }
    Ok(Arc::new(PyClientAuth::new(py, plugin, owner)?))
}
