//! `netunnel security`: the secret key and encrypted values.

use clap::{Subcommand, ValueEnum};
use netunnel_core::secret::{SecretKey, TokenFormat};

/// `netunnel security ...`
#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Print a new secret key.
    GenerateKey,
    /// Encrypt DATA with SECRET_KEY.
    Encrypt {
        /// The secret key (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        secret_key: String,
        /// The text to encrypt.
        #[arg(allow_hyphen_values = true)]
        data: String,
        /// Token format: `gcm` (ours) or `fernet` (readable by NETunnel 1.0.x).
        #[arg(long, value_enum, default_value_t = Format::Gcm)]
        format: Format,
    },
    /// Decrypt DATA (either token format) with SECRET_KEY.
    Decrypt {
        /// The secret key (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        secret_key: String,
        /// The token to decrypt.
        #[arg(allow_hyphen_values = true)]
        data: String,
    },
}

/// Token formats on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// AES-256-GCM, `ntv1:...`.
    Gcm,
    /// Fernet, `gAAAAA...`.
    Fernet,
}

pub fn run(command: SecurityCommand) -> anyhow::Result<()> {
    match command {
        SecurityCommand::GenerateKey => println!("{}", SecretKey::generate()?.encode()),
        SecurityCommand::Encrypt {
            secret_key,
            data,
            format,
        } => {
            let format = match format {
                Format::Gcm => TokenFormat::Gcm,
                Format::Fernet => TokenFormat::Fernet,
            };
            println!("{}", SecretKey::parse(&secret_key)?.encrypt(&data, format)?);
        }
        SecurityCommand::Decrypt { secret_key, data } => {
            println!("{}", SecretKey::parse(&secret_key)?.decrypt(&data)?);
        }
    }
    Ok(())
}
