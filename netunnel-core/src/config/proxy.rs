//! The global `http_proxy` setting and its encrypted credentials.

use serde_json::{Map, Value};

use super::ConfigError;
use crate::proxy::{ProxySettings, MASK};
use crate::secret::SecretKey;

fn credential<'a>(proxy: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    match proxy.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

/// At load: every stored credential (proxy, peers' auth data) must decrypt, or
/// the server refuses to start naming it; a `******` left by NETunnel 1.0.x in
/// the proxy settings is only a warning.
pub(super) fn check_credentials(
    values: &Map<String, Value>,
    key: &SecretKey,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(Value::Array(peers)) = values.get("peers") {
        for peer in peers {
            let name = peer.get("name").and_then(Value::as_str).unwrap_or("?");
            let Some(Value::Object(auth_data)) = peer.get("auth_data") else {
                continue;
            };
            for (field, value) in auth_data {
                if let Some(token) = value.as_str().filter(|v| SecretKey::is_token(v)) {
                    key.decrypt(token).map_err(|source| ConfigError::Secret {
                        setting: format!("peers[{name}].auth_data.{field}"),
                        source,
                    })?;
                }
            }
        }
    }
    let Some(Value::Object(proxy)) = values.get("http_proxy") else {
        return Ok(());
    };
    for field in ["username", "password"] {
        let setting = format!("http_proxy.{field}");
        match credential(proxy, field) {
            None => {}
            Some(MASK) => warnings.push(format!(
                "{setting} holds `{MASK}` (NETunnel 1.0.x lost this credential when it saved); the proxy is used without credentials until it is set again"
            )),
            Some(token) => {
                key.decrypt(token)
                    .map_err(|source| ConfigError::Secret { setting, source })?;
            }
        }
    }
    Ok(())
}

/// The proxy with credentials decrypted (lost or undecryptable ones dropped).
pub(super) fn decrypted(values: &Map<String, Value>, key: &SecretKey) -> Option<ProxySettings> {
    let Some(Value::Object(proxy)) = values.get("http_proxy") else {
        return None;
    };
    let url = match proxy.get("proxy_url") {
        Some(Value::String(url)) if !url.is_empty() => url.clone(),
        _ => return None,
    };
    let open = |field| {
        credential(proxy, field)
            .filter(|token| *token != MASK)
            .and_then(|token| key.decrypt(token).ok())
    };
    let (username, password) = match (open("username"), open("password")) {
        (Some(user), Some(pass)) => (Some(user), Some(pass)),
        _ => (None, None),
    };
    Some(ProxySettings {
        url,
        username,
        password,
    })
}
