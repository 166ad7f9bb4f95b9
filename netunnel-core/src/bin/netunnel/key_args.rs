//! `-s/--secret-key` and `--secret-key-file`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// The configuration's secret key, given on the command line, the same on
/// `netunnel server` and `netunnel config downgrade`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Secret key encrypting the configuration's secrets (else the file's, or
    /// NETUNNEL_SECRET_KEY); never written. Prefer --secret-key-file or
    /// NETUNNEL_SECRET_KEY: flags show in `ps`.
    #[arg(
        short,
        long,
        conflicts_with = "secret_key_file",
        allow_hyphen_values = true
    )]
    secret_key: Option<String>,
    /// File holding the secret key (first line).
    #[arg(long)]
    secret_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key given by `--secret-key` or read from `--secret-key-file`.
    pub fn key(self) -> anyhow::Result<Option<String>> {
        match (self.secret_key, self.secret_key_file) {
            (Some(key), _) => Ok(Some(key)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read the secret key file {}", path.display())
                })?;
                Ok(Some(
                    text.lines().next().unwrap_or_default().trim().to_string(),
                ))
            }
            (None, None) => Ok(None),
        }
    }
}
