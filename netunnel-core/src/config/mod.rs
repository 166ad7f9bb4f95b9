//! The server's configuration: a JSON file compatible with NETunnel 1.0.x,
//! merged over defaults, written back atomically after every change.

pub mod address;
mod allow;
mod atomic;
mod folder;
mod keys;
mod proxy;
mod unblocked;

pub use crate::proxy::{ProxySettings, MASK};
pub use allow::AllowList;
pub use keys::{defaults, parse_port_range, validate, DEFAULT_KEYS};

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

use crate::secret::{SecretError, SecretKey, TokenFormat};

/// Why the configuration cannot be used. Messages name the file, key or
/// variable, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not a JSON object.
    #[error("the configuration file {path} is not valid: {problem}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A known key has a value of the wrong type.
    #[error("the configuration file {path}: `{key}` {problem}")]
    Key {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// An environment override is not usable.
    #[error("environment variable {name}: {problem}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The file cannot be written.
    #[error("cannot write the configuration file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Every user may write to the file's folder, so anyone could replace
    /// the file (a folder with the sticky bit, such as `/tmp`, only warns).
    #[error(
        "every user may write to {folder}, the folder of the configuration file, so anyone could replace it: use a folder of your own, or `chmod o-w {folder}`"
    )]
    UnsafeFolder {
        /// The folder.
        folder: PathBuf,
    },
    /// A change was lost: the thread writing it panicked.
    #[error("the configuration change was interrupted")]
    Interrupted,
    /// The store was closed ([`ConfigStore::close`]: its server stopped);
    /// it takes no more changes.
    #[error("the configuration takes no more changes: the server is stopping")]
    Closed,
    /// A secret in the configuration, or the key itself, is not usable.
    #[error("{setting}: {source}")]
    Secret {
        /// The setting (e.g. `http_proxy.password`, `NETUNNEL_SECRET_KEY`).
        setting: String,
        /// Why.
        #[source]
        source: SecretError,
    },
}

impl From<ConfigError> for crate::Error {
    /// A file that cannot be written is an I/O failure of this side (a full
    /// disk, say: HTTP 500), not a mistake in what was asked; every other
    /// configuration error is kept whole, as the source.
    fn from(err: ConfigError) -> Self {
        match err {
            ConfigError::Write { path, source } => crate::Error::io(
                format!("cannot write the configuration file {}", path.display()),
                source,
            ),
            // Refused because of when it came, as a peer change at a stop is.
            ConfigError::Closed => crate::Error::NotAllowed(ConfigError::Closed.to_string()),
            other => crate::Error::Configuration(Box::new(other)),
        }
    }
}

/// Where the secret key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `--secret-key` or `--secret-key-file` (never written to the file).
    Flag,
    /// `NETUNNEL_SECRET_KEY` (never written to the file).
    Environment,
    /// `secret_key` in the file.
    File,
    /// Generated at start (and stored in the file, if there is one).
    Generated,
}

/// Reads environment variables; a function so tests can supply their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

struct State {
    values: Map<String, Value>,
    key: SecretKey,
    key_source: KeySource,
}

/// The live configuration. With a path, every change is written back.
///
/// Changes block on the file write (from async code, use
/// [`ConfigStore::update_unblocked`] and [`ConfigStore::reset_unblocked`]);
/// reads never wait for a write: a change is written first and becomes visible
/// once on disk.
pub struct ConfigStore {
    path: Option<PathBuf>,
    state: Mutex<State>,
    /// Held for the whole of a change, so changes apply and land in order;
    /// `true` once closed.
    writing: Mutex<bool>,
    flag_key: Option<SecretKey>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Defaults with `NETUNNEL_<KEY>` overrides applied.
pub fn defaults_with_env(env: EnvLookup<'_>) -> Result<Map<String, Value>, ConfigError> {
    let mut values = defaults();
    for key in DEFAULT_KEYS {
        let name = format!("NETUNNEL_{}", key.to_uppercase());
        if let Some(text) = env(&name) {
            let value: Value = serde_json::from_str(&text).map_err(|err| ConfigError::Env {
                name: name.clone(),
                problem: format!("not valid JSON: {err}"),
            })?;
            keys::validate(key, &value).map_err(|problem| ConfigError::Env {
                name: name.clone(),
                problem,
            })?;
            values.insert(key.to_string(), value);
        }
    }
    Ok(values)
}

fn read_file(path: &Path) -> Result<Option<Map<String, Value>>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let value: Value = serde_json::from_str(&text).map_err(|err| ConfigError::Syntax {
        path: path.to_path_buf(),
        problem: err.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            problem: "the top level must be a JSON object".into(),
        }),
    }
}

/// Refuses a folder where anyone could replace the file; a warning for one
/// where anyone may add files but not replace ours (sticky, as `/tmp`).
fn check_folder(path: &Path) -> Result<Option<String>, ConfigError> {
    let folder = atomic::folder_of(path);
    match folder::judge(&folder) {
        Ok(folder::Verdict::Private) => Ok(None),
        Ok(folder::Verdict::Shared) => Ok(Some(format!(
            "the configuration file is in {}, a folder every user may add files to; \
             a folder of your own is safer",
            folder.display()
        ))),
        Ok(folder::Verdict::Open) => Err(ConfigError::UnsafeFolder { folder }),
        Err(source) => Err(ConfigError::Read {
            path: folder,
            source,
        }),
    }
}

/// Serialises as NETunnel does: JSON indented by 4.
fn render(values: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising a Map of Values into a Vec cannot fail.
    if serde::Serialize::serialize(values, &mut serializer).is_err() {
        out.clear();
    }
    out.push(b'\n');
    out
}

/// The secret key by precedence: flag, environment, file, else a new one that
/// is stored in `values`.
fn choose_key(
    values: &mut Map<String, Value>,
    flag: Option<SecretKey>,
    env: Option<SecretKey>,
    file: Option<SecretKey>,
) -> Result<(SecretKey, KeySource), ConfigError> {
    Ok(match (flag, env, file) {
        (Some(key), _, _) => (key, KeySource::Flag),
        (None, Some(key), _) => (key, KeySource::Environment),
        (None, None, Some(key)) => (key, KeySource::File),
        (None, None, None) => {
            let key = SecretKey::generate().map_err(|source| ConfigError::Secret {
                setting: "secret_key".into(),
                source,
            })?;
            values.insert("secret_key".into(), Value::String(key.encode()));
            (key, KeySource::Generated)
        }
    })
}

impl ConfigStore {
    /// A configuration kept in memory only (stateless server).
    pub fn in_memory(
        flag_key: Option<&str>,
        env: EnvLookup<'_>,
    ) -> Result<ConfigStore, ConfigError> {
        Self::open(None, flag_key, env)
    }

    /// Loads `path` (if given and present) over the defaults, resolves the
    /// secret key (flag, `NETUNNEL_SECRET_KEY`, file, generated) and writes the
    /// result back. On any error nothing is written.
    pub fn open(
        path: Option<&Path>,
        flag_key: Option<&str>,
        env: EnvLookup<'_>,
    ) -> Result<ConfigStore, ConfigError> {
        let mut values = defaults_with_env(env)?;
        let label = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<defaults>"));
        let mut warnings = Vec::new();
        if let Some(path) = path {
            warnings.extend(check_folder(path)?);
            atomic::clean_leftovers(path);
            if let Some(file) = read_file(path)? {
                for (key, value) in file {
                    keys::validate(&key, &value).map_err(|problem| ConfigError::Key {
                        path: label.clone(),
                        key: key.clone(),
                        problem,
                    })?;
                    values.insert(key, value);
                }
            }
        }
        let flag_key = flag_key
            .map(|text| {
                SecretKey::parse(text).map_err(|source| ConfigError::Secret {
                    setting: "the given secret key".into(),
                    source,
                })
            })
            .transpose()?;
        let env_key = env("NETUNNEL_SECRET_KEY")
            .map(|text| {
                SecretKey::parse(&text).map_err(|source| ConfigError::Secret {
                    setting: "NETUNNEL_SECRET_KEY".into(),
                    source,
                })
            })
            .transpose()?;
        let file_key = match values.get("secret_key") {
            Some(Value::String(text)) => {
                Some(
                    SecretKey::parse(text).map_err(|source| ConfigError::Secret {
                        setting: format!("secret_key in {}", label.display()),
                        source,
                    })?,
                )
            }
            _ => None,
        };
        let (key, key_source) = choose_key(&mut values, flag_key.clone(), env_key, file_key)?;
        proxy::check_credentials(&values, &key, &mut warnings)?;
        let store = ConfigStore {
            path: path.map(Path::to_path_buf),
            state: Mutex::new(State {
                values,
                key,
                key_source,
            }),
            writing: Mutex::new(false),
            flag_key,
            warnings,
        };
        store.save(&store.lock().values)?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, values: &Map<String, Value>) -> Result<(), ConfigError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        atomic::write(path, &render(values)).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })
    }

    /// The file, when the server is not stateless.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Problems found at load that do not stop the server (e.g. lost credentials).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the secret key came from.
    pub fn key_source(&self) -> KeySource {
        self.lock().key_source
    }

    /// A copy of one value.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().values.get(key).cloned()
    }

    /// Applies `change` to the values and writes the result (serialised with
    /// every other change); the change takes effect once written. On a write
    /// error nothing changes. Blocks on the file write.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Map<String, Value>, &SecretKey) -> T,
    ) -> Result<T, ConfigError> {
        let _writing = self.open_for_writing()?;
        let (mut values, key) = {
            let state = self.lock();
            (state.values.clone(), state.key.clone())
        };
        let out = change(&mut values, &key);
        self.save(&values)?;
        self.lock().values = values;
        Ok(out)
    }

    /// The writing lock, unless the store is closed.
    fn open_for_writing(&self) -> Result<MutexGuard<'_, bool>, ConfigError> {
        let writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if *writing {
            return Err(ConfigError::Closed);
        }
        Ok(writing)
    }

    /// Takes no more changes ([`ConfigError::Closed`]), once the change
    /// being written, if any, has landed: after this returns, the file is
    /// not written again. Blocks on that write.
    pub fn close(&self) {
        *self.writing.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    /// Encrypts a value with the secret key (our format).
    pub fn encrypt(&self, plaintext: &str) -> Result<String, ConfigError> {
        self.lock()
            .key
            .encrypt(plaintext, TokenFormat::Gcm)
            .map_err(|source| ConfigError::Secret {
                setting: "encryption".into(),
                source,
            })
    }

    /// Decrypts a value written by us or by NETunnel 1.0.x.
    pub fn decrypt(&self, setting: &str, token: &str) -> Result<String, ConfigError> {
        self.lock()
            .key
            .decrypt(token)
            .map_err(|source| ConfigError::Secret {
                setting: setting.to_string(),
                source,
            })
    }

    /// `allowed_tunnel_destinations`.
    pub fn allowed_destinations(&self) -> AllowList {
        keys::parse_allow_list(self.lock().values.get("allowed_tunnel_destinations"))
            .unwrap_or_else(|| AllowList(Default::default()))
    }

    /// `allowed_tunnel_entrances`; `None` allows any.
    pub fn allowed_entrances(&self) -> Option<AllowList> {
        keys::parse_allow_list(self.lock().values.get("allowed_tunnel_entrances"))
    }

    /// The global HTTP proxy, credentials decrypted (`None` when unset).
    pub fn http_proxy(&self) -> Option<ProxySettings> {
        let state = self.lock();
        proxy::decrypted(&state.values, &state.key)
    }

    /// Replaces every value by the defaults (with environment overrides). The
    /// secret key is kept when it came from a flag or the environment, else a
    /// new one is generated and stored, as NETunnel 1.0.x does.
    /// Blocks on the file write.
    pub fn reset(&self, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        let _writing = self.open_for_writing()?;
        let mut values = defaults_with_env(env)?;
        let env_key = env("NETUNNEL_SECRET_KEY").and_then(|text| SecretKey::parse(&text).ok());
        let (key, source) = choose_key(&mut values, self.flag_key.clone(), env_key, None)?;
        self.save(&values)?;
        *self.lock() = State {
            values,
            key,
            key_source: source,
        };
        Ok(())
    }
}

/// Writes `values` to `path` atomically (for `netunnel config` tools).
pub fn write_file(path: &Path, values: &Map<String, Value>) -> Result<(), ConfigError> {
    atomic::write(path, &render(values)).map_err(|source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a configuration file as raw JSON (for `netunnel config` tools).
pub fn read_raw(path: &Path) -> Result<Option<Map<String, Value>>, ConfigError> {
    read_file(path)
}

#[cfg(test)]
mod tests;
