//! The engine's configuration defaults, for `netunnel.server.config`, so the
//! Python module and the server never disagree on them.

use pyo3::prelude::*;

/// The defaults (before `NETUNNEL_<KEY>` overrides) as a JSON object.
#[pyfunction]
pub(crate) fn default_config_json() -> String {
    serde_json::Value::Object(netunnel_core::config::defaults()).to_string()
}
