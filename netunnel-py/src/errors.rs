//! The engine's errors as Python exceptions, chosen by their `ErrorKind`.
//! The classes are NETunnel 1.0.x's (`netunnel.common.exceptions`), defined
//! here so the native code can raise them.

use netunnel_core::{Error, ErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    netunnel._native,
    NETunnelError,
    PyException,
    "Any NETunnel failure."
);
create_exception!(
    netunnel._native,
    NETunnelResponseError,
    NETunnelError,
    "The server answered with an error."
);
create_exception!(
    netunnel._native,
    NETunnelNotConnectedError,
    NETunnelError,
    "The client is not connected."
);
create_exception!(
    netunnel._native,
    NETunnelServerError,
    NETunnelError,
    "The server could not start or serve."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("NETunnelError", py.get_type::<NETunnelError>())?;
    m.add(
        "NETunnelResponseError",
        py.get_type::<NETunnelResponseError>(),
    )?;
    m.add(
        "NETunnelNotConnectedError",
        py.get_type::<NETunnelNotConnectedError>(),
    )?;
    m.add("NETunnelServerError", py.get_type::<NETunnelServerError>())?;
    Ok(())
}

/// The exception for `err`; its `kind` attribute is the stable kind name.
pub(crate) fn to_py(err: Error) -> PyErr {
    let kind = err.kind();
    let message = err.to_string();
    // Every error answer of a server is a response error, as in 1.0.x.
    let raised = match kind {
        _ if err.remote_status().is_some() => NETunnelResponseError::new_err(message),
        ErrorKind::ChannelClosed => NETunnelNotConnectedError::new_err(message),
        ErrorKind::Refused
        | ErrorKind::BadRequest
        | ErrorKind::NotFound
        | ErrorKind::NotAllowed
        | ErrorKind::Unauthorized
        | ErrorKind::TooLarge => NETunnelResponseError::new_err(message),
        _ => NETunnelError::new_err(message),
    };
    Python::attach(|py| {
        let _ = raised.value(py).setattr("kind", kind.name());
    });
    raised
}

/// A `Result` of the engine as one of Python.
pub(crate) trait IntoPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
