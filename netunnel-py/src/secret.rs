//! The server's secret key for `netunnel.common.security.Encryptor`:
//! tokens are written as Fernet (what 1.0.x reads) and read in both formats.

use netunnel_core::secret::{SecretError, SecretKey, TokenFormat};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pyo3::create_exception!(
    netunnel._native,
    InvalidToken,
    pyo3::exceptions::PyException,
    "The token is malformed, altered, or was made with another key."
);

fn key(text: &str) -> PyResult<SecretKey> {
    SecretKey::parse(text).map_err(|err| PyValueError::new_err(err.to_string()))
}

fn token_error(err: SecretError) -> PyErr {
    match err {
        SecretError::Random(_) => PyRuntimeError::new_err(err.to_string()),
        _ => InvalidToken::new_err(err.to_string()),
    }
}

/// A new random key, in NETunnel's text format.
#[pyfunction]
pub(crate) fn generate_key() -> PyResult<String> {
    SecretKey::generate()
        .map(|key| key.encode())
        .map_err(|err| PyRuntimeError::new_err(err.to_string()))
}

/// `data` encrypted with `secret_key` as a Fernet token (readable by 1.0.x),
/// or as ours (`ntv1:`, AES-256-GCM) when `fernet` is false.
#[pyfunction]
#[pyo3(signature = (secret_key, data, fernet = true))]
pub(crate) fn encrypt(secret_key: &str, data: &[u8], fernet: bool) -> PyResult<String> {
    let format = if fernet {
        TokenFormat::Fernet
    } else {
        TokenFormat::Gcm
    };
    key(secret_key)?
        .encrypt_bytes(data, format)
        .map_err(token_error)
}

/// The bytes a token of either format holds.
#[pyfunction]
pub(crate) fn decrypt<'py>(
    py: Python<'py>,
    secret_key: &str,
    token: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = key(secret_key)?.decrypt_bytes(token).map_err(token_error)?;
    Ok(PyBytes::new(py, &bytes))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InvalidToken", m.py().get_type::<InvalidToken>())?;
    m.add_function(wrap_pyfunction!(generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt, m)?)?;
    Ok(())
}
