//! The known configuration keys, their defaults and their types.

use serde_json::{json, Map, Value};

use super::AllowList;

/// Keys with a default value, in NETunnel 1.0.x's order. `NETUNNEL_<KEY>`
/// environment variables override these defaults.
pub const DEFAULT_KEYS: [&str; 6] = [
    "allowed_tunnel_destinations",
    "http_proxy",
    "http_proxy_test_url",
    "peers",
    "allow_unverified_ssl_peers",
    "revision",
];

/// The defaults, before environment overrides.
pub fn defaults() -> Map<String, Value> {
    let value = json!({
        "allowed_tunnel_destinations": {"127.0.0.1": "*"},
        "http_proxy": null,
        "http_proxy_test_url": "https://google.com",
        "peers": [],
        "allow_unverified_ssl_peers": false,
        "revision": 1,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn allow_list(value: &Value) -> Result<AllowList, String> {
    let list = serde_json::from_value::<AllowList>(value.clone()).map_err(|_| {
        "must map addresses to port lists, e.g. {\"127.0.0.1\": \"22, 443\"} or {\"10.0.0.0/8\": \"*\"}"
            .to_string()
    })?;
    list.validate()?;
    Ok(list)
}

/// Checks the type of a known key; `Ok` for unknown keys (they are kept as is).
pub fn validate(key: &str, value: &Value) -> Result<(), String> {
    match key {
        "allowed_tunnel_destinations" => allow_list(value).map(|_| ()),
        "allowed_tunnel_entrances" if value.is_null() => Ok(()),
        "allowed_tunnel_entrances" => allow_list(value).map(|_| ()),
        "http_proxy" => match value {
            Value::Null => Ok(()),
            Value::Object(proxy) => {
                for field in ["proxy_url", "username", "password"] {
                    match proxy.get(field) {
                        None | Some(Value::Null) | Some(Value::String(_)) => {}
                        Some(_) => return Err(format!("`{field}` must be a string or null")),
                    }
                }
                Ok(())
            }
            _ => Err("must be null or an object with proxy_url, username, password".into()),
        },
        "http_proxy_test_url" | "secret_key" => match value {
            Value::String(_) => Ok(()),
            _ => Err("must be a string".into()),
        },
        "peers" => match value {
            Value::Array(_) => serde_json::from_value::<Vec<crate::wire::Peer>>(value.clone())
                .map(|_| ())
                .map_err(|err| format!("holds a peer that is not valid: {err}")),
            _ => Err("must be a list".into()),
        },
        "static_tunnel_retry_interval" | "static_tunnel_health_check_interval" => {
            match value.as_f64() {
                Some(seconds) if seconds > 0.0 => Ok(()),
                _ => Err("must be a positive number of seconds".into()),
            }
        }
        "max_channels"
        | "max_tunnels_per_channel"
        | "max_connections_per_tunnel"
        | "max_pending_channels" => match value.as_u64() {
            Some(count) if count > 0 => Ok(()),
            _ => Err("must be a positive whole number".into()),
        },
        "static_tunnel_local_ports" => match value.as_str().and_then(parse_port_range) {
            Some(_) => Ok(()),
            None => Err("must be a port range such as \"20000-20999\"".into()),
        },
        "allow_unverified_ssl_peers" => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("must be true or false".into()),
        },
        "revision" => match value.as_i64() {
            Some(_) => Ok(()),
            None => Err("must be an integer".into()),
        },
        _ => Ok(()),
    }
}

/// Parses a validated allow-list value.
/// The list stored under a key: `None` when absent (or null); a list that
/// does not read (stored past validation) allows nothing rather than anything.
pub(super) fn parse_allow_list(value: Option<&Value>) -> Option<AllowList> {
    match value {
        None | Some(Value::Null) => None,
        Some(value) => Some(allow_list(value).unwrap_or_else(|_| AllowList(Default::default()))),
    }
}

/// Parses `"20000-20999"`.
pub fn parse_port_range(text: &str) -> Option<std::ops::RangeInclusive<u16>> {
    let (low, high) = text.split_once('-')?;
    let low: u16 = low.trim().parse().ok()?;
    let high: u16 = high.trim().parse().ok()?;
    (low >= 1 && low <= high).then_some(low..=high)
}
