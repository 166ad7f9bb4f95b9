//! `--auth-plugin`, `--auth-data` and `--auth-data-file`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use netunnel_core::auth::{self, ClientAuth, ServerAuth};

/// Authentication flags, the same on servers and clients.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Authentication plugin: a built-in name (`none`, `secret`). Dotted
    /// `module.Class` names are plugins written in Python, loaded by the Python package.
    #[arg(long, global = true)]
    auth_plugin: Option<String>,
    /// JSON data for the plugin, e.g. '{"secret": "..."}'. Prefer --auth-data-file
    /// for secrets: flags show in `ps`.
    #[arg(long, global = true, conflicts_with = "auth_data_file")]
    auth_data: Option<String>,
    /// File holding the plugin's JSON data.
    #[arg(long, global = true)]
    auth_data_file: Option<PathBuf>,
}

impl AuthArgs {
    fn data(&self) -> anyhow::Result<serde_json::Value> {
        let text = match (&self.auth_data, &self.auth_data_file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            (None, None) => "{}".to_string(),
        };
        // The text may hold a secret: never echo it in the error.
        serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "the authentication data is not valid JSON (line {}, column {})",
                err.line(),
                err.column()
            )
        })
    }

    /// The server plugin (no authentication when none is named).
    pub fn server(&self) -> anyhow::Result<Arc<dyn ServerAuth>> {
        let name = self.auth_plugin.as_deref().unwrap_or("none");
        Ok(auth::server_plugin(name, &self.data()?)?)
    }

    /// The client plugin, if one is named.
    pub fn client(&self) -> anyhow::Result<Option<Arc<dyn ClientAuth>>> {
        match self.auth_plugin.as_deref() {
            None => Ok(None),
            Some(name) => Ok(Some(auth::client_plugin(name, &self.data()?)?)),
        }
    }
}
