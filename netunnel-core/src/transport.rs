//! How a client reaches its server: REST requests and websockets. The core's
//! client is written against this trait; the frontend implements it over TCP.

use futures::future::BoxFuture;

use crate::error::{Error, Result};
pub use crate::ws::Upgraded;

/// HTTP methods the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A REST answer: status and raw body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

impl Reply {
    /// Interprets the body as NETunnel does: any JSON object with an `error` key is
    /// a failure whatever the status; an empty body is `null`; a non-JSON body is
    /// an error carrying its text.
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            if self.status >= 400 {
                return Err(self.refusal(format!("server answered HTTP {}", self.status)));
            }
            return Ok(serde_json::Value::Null);
        }
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(value) => {
                if let Some(error) = value.get("error") {
                    let text = match error {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let kind = value
                        .get("kind")
                        .and_then(serde_json::Value::as_str)
                        .and_then(crate::ErrorKind::from_name);
                    return Err(Error::Remote {
                        status: Some(self.status),
                        message: text,
                        kind,
                    });
                }
                if self.status >= 400 {
                    return Err(
                        self.refusal(format!("server answered HTTP {}: {value}", self.status))
                    );
                }
                Ok(value)
            }
            Err(_) => Err(self.refusal(format!(
                "server answered HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body).trim()
            ))),
        }
    }

    /// A refusal carrying this answer's status.
    fn refusal(&self, message: String) -> Error {
        Error::Remote {
            status: Some(self.status),
            message,
            kind: None,
        }
    }

    /// Parses a successful JSON answer into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let value = self.json()?;
        serde_json::from_value(value)
            .map_err(|err| Error::Protocol(format!("unexpected answer from the server: {err}")))
    }
}

/// REST and websocket access to one NETunnel server. `path` is relative to the
/// server URL (which may carry a prefix) and starts with `/`.
pub trait Transport: Send + Sync {
    /// Sends one request with an optional JSON body.
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'_, Result<Reply>>;

    /// Opens a websocket: sends the upgrade request and checks the answer.
    fn websocket(&self, path: String) -> BoxFuture<'_, Result<Upgraded>>;

    /// Where this transport goes, for messages (no credentials).
    fn describe(&self) -> String;
}
