//! The body of `POST /config/http-proxy`, typed, and its validation from JSON.

use serde_json::Value;

use crate::error::{Error, Result};

/// `POST /config/http-proxy`: the server's default proxy, or none.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProxyRequest {
    /// `http://host:port`; `None` removes the proxy.
    pub proxy_url: Option<String>,
    /// Basic auth user (given together with `password`, or not at all).
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<String>,
    /// The URL fetched through the proxy to check it (default: the
    /// configuration's `http_proxy_test_url`).
    pub test_url: Option<String>,
    /// Whether to check the proxy before storing it (default `true`).
    pub check_proxy: bool,
}

impl std::fmt::Debug for HttpProxyRequest {
    /// Everything but the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxyRequest")
            .field(
                "proxy_url",
                &self.proxy_url.as_deref().map(crate::proxy::redact_url),
            )
            .field(
                "username",
                &self.username.as_ref().map(|_| crate::proxy::MASK),
            )
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::proxy::MASK),
            )
            .field("test_url", &self.test_url)
            .field("check_proxy", &self.check_proxy)
            .finish()
    }
}

fn optional_text(body: &Value, key: &str) -> Result<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Error::BadRequest(format!("`{key}` must be a string"))),
    }
}

impl HttpProxyRequest {
    /// Validates a `POST /config/http-proxy` body as NETunnel 1.0.x reads it.
    pub fn from_json(body: &Value) -> Result<HttpProxyRequest> {
        let proxy_url = match body.get("proxy_url") {
            None => return Err(Error::BadRequest("Missing 'proxy_url' for proxy".into())),
            Some(Value::Null) => None,
            Some(Value::String(url)) => Some(url.clone()),
            Some(_) => {
                return Err(Error::BadRequest(
                    "`proxy_url` must be a string or null".into(),
                ))
            }
        };
        let username = optional_text(body, "username")?;
        let password = optional_text(body, "password")?;
        if proxy_url.is_some() && username.is_some() != password.is_some() {
            return Err(Error::BadRequest(
                "HTTP proxy authentication needs both a username and a password".into(),
            ));
        }
        let check_proxy = match body.get("check_proxy") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(check)) => *check,
            Some(_) => {
                return Err(Error::BadRequest(
                    "`check_proxy` must be true or false".into(),
                ))
            }
        };
        Ok(HttpProxyRequest {
            proxy_url,
            username,
            password,
            test_url: optional_text(body, "test_url")?,
            check_proxy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_read_as_1_0_reads_them() {
        let full = HttpProxyRequest::from_json(&json!({
            "proxy_url": "http://p:3128", "username": "u", "password": "secret", "check_proxy": false
        }))
        .unwrap();
        assert_eq!(full.proxy_url.as_deref(), Some("http://p:3128"));
        assert!(!full.check_proxy);
        assert!(!format!("{full:?}").contains("secret"), "{full:?}");
        let none = HttpProxyRequest::from_json(&json!({"proxy_url": null})).unwrap();
        assert_eq!(none.proxy_url, None);
        assert!(none.check_proxy);
        for bad in [
            json!({}),
            json!({"proxy_url": 3}),
            json!({"proxy_url": "http://p:1", "username": "u"}),
            json!({"proxy_url": "http://p:1", "check_proxy": "yes"}),
            json!({"proxy_url": "http://p:1", "test_url": 1}),
        ] {
            let err = HttpProxyRequest::from_json(&bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::BadRequest, "{bad}");
        }
    }
}

/// The server's default proxy as `GET /config/http-proxy` shows it: the URL
/// with any password in it masked, and the credentials as `******` when set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpProxyView {
    /// `http://host:port`, a password inside it masked.
    pub proxy_url: String,
    /// `******` when a user is set.
    pub username: Option<String>,
    /// `******` when a password is set.
    pub password: Option<String>,
}

impl HttpProxyView {
    /// The answer's JSON: `{}` when no proxy is set, as NETunnel 1.0.x.
    pub fn to_json(view: Option<&HttpProxyView>) -> Value {
        match view {
            Some(view) => serde_json::json!({
                "proxy_url": view.proxy_url,
                "username": view.username,
                "password": view.password,
            }),
            None => serde_json::json!({}),
        }
    }
}
