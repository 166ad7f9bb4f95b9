//! `netunnel config`: create a configuration file, or rewrite its secrets for
//! NETunnel 1.0.x.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use netunnel_core::config::{self, process_env, MASK};
use netunnel_core::secret::{SecretKey, TokenFormat};
use serde_json::Value;

/// `netunnel config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a configuration file: the defaults with CUSTOM_CHANGES on top.
    Create {
        /// Where to write it.
        path: PathBuf,
        /// JSON object of top-level keys replacing the defaults.
        #[arg(long, default_value = "{}")]
        custom_changes: String,
        /// Overwrite an existing file (its secret key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Rewrite the file's encrypted values as Fernet tokens, the only format
    /// NETunnel 1.0.x reads, so the file can go back to a 1.0.x server.
    Downgrade {
        /// The configuration file.
        path: PathBuf,
        #[command(flatten)]
        key: crate::key_args::KeyArgs,
    },
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Create {
            path,
            custom_changes,
            force,
        } => create(path, &custom_changes, force),
        ConfigCommand::Downgrade { path, key } => downgrade(path, key.key()?),
    }
}

fn create(path: PathBuf, custom_changes: &str, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists (it may hold the server's secret key); use --force to overwrite it",
            path.display()
        );
    }
    let changes: Value =
        serde_json::from_str(custom_changes).context("--custom-changes is not valid JSON")?;
    let Value::Object(changes) = changes else {
        bail!("--custom-changes must be a JSON object");
    };
    for (key, value) in &changes {
        config::validate(key, value).map_err(|problem| anyhow::anyhow!("`{key}` {problem}"))?;
    }
    let mut values = config::defaults_with_env(&process_env)?;
    values.extend(changes);
    config::write_file(&path, &values)?;
    println!("{}", path.display());
    Ok(())
}

fn downgrade(path: PathBuf, flag_key: Option<String>) -> anyhow::Result<()> {
    let Some(mut values) = config::read_raw(&path)? else {
        bail!("{} does not exist", path.display());
    };
    let key_text = flag_key
        .or_else(|| process_env("NETUNNEL_SECRET_KEY"))
        .or_else(|| {
            values
                .get("secret_key")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .context("no secret key: give --secret-key or --secret-key-file")?;
    let key = SecretKey::parse(&key_text).context("the secret key")?;
    let mut rewritten = 0;
    if let Some(Value::Object(proxy)) = values.get_mut("http_proxy") {
        for field in ["username", "password"] {
            if let Some(Value::String(token)) = proxy.get_mut(field) {
                if token.is_empty() || token == MASK {
                    continue;
                }
                let plain = key
                    .decrypt(token)
                    .with_context(|| format!("http_proxy.{field}"))?;
                *token = key.encrypt(&plain, TokenFormat::Fernet)?;
                rewritten += 1;
            }
        }
    }
    // NETunnel 1.0.x stores peers' auth_data in clear: decrypt it back.
    let mut cleared = 0;
    if let Some(Value::Array(peers)) = values.get_mut("peers") {
        for peer in peers {
            let name = peer
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let Some(Value::Object(auth_data)) = peer.get_mut("auth_data") else {
                continue;
            };
            for (field, value) in auth_data.iter_mut() {
                if let Value::String(token) = value {
                    if SecretKey::is_token(token) {
                        *token = key
                            .decrypt(token)
                            .with_context(|| format!("peers[{name}].auth_data.{field}"))?;
                        cleared += 1;
                    }
                }
            }
        }
    }
    config::write_file(&path, &values)?;
    println!(
        "{}: {rewritten} value(s) rewritten as Fernet tokens, {cleared} peer auth value(s) decrypted (1.0.x stores them in clear)",
        path.display()
    );
    Ok(())
}
