//! Authentication plugins. A server plugin decides whether each request is
//! authenticated and serves `POST /authenticate`; a client plugin authenticates
//! (usually by calling `/authenticate`), says whether it still is, and gives the
//! headers sent with every request, websocket upgrades included. For peers, the
//! server plugin makes a client plugin from the peer's stored `auth_data`.
//!
//! The traits are object-safe and return boxed futures, so plugins can come from
//! Rust, and from the Python and C bindings, without changes to the core.
//!
//! A pair of plugins sharing a password: the client posts it to
//! `/authenticate` and sends back the ticket it got; the server lets in
//! requests that carry the ticket.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use futures::future::BoxFuture;
//! use netunnel_core::auth::*;
//! use netunnel_core::client::{Client, ClientSettings};
//! use netunnel_core::transport::Method;
//! use netunnel_core::{AsyncStdRuntime, ErrorKind, HttpTransport, TransportOptions};
//! use netunnel_core::{Server, ServerOptions};
//!
//! struct Door;
//!
//! impl ServerAuth for Door {
//!     fn is_authenticated<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, bool> {
//!         Box::pin(async move { request.header("X-Ticket") == Some("ticket-1") })
//!     }
//!     fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse> {
//!         Box::pin(async move {
//!             if request.body == b"{\"password\":\"open sesame\"}" {
//!                 AuthResponse::json(200, &serde_json::json!({"ticket": "ticket-1"}))
//!             } else {
//!                 AuthResponse::json(403, &serde_json::json!({"error": "wrong password"}))
//!             }
//!         })
//!     }
//!     fn client_for_peer<'a>(
//!         &'a self,
//!         data: &'a BTreeMap<String, String>,
//!     ) -> BoxFuture<'a, netunnel_core::Result<Arc<dyn ClientAuth>>> {
//!         let password = data.get("password").cloned().unwrap_or_default();
//!         Box::pin(async move { Ok(Arc::new(Key::new(&password)) as Arc<dyn ClientAuth>) })
//!     }
//! }
//!
//! struct Key {
//!     password: String,
//!     ticket: Mutex<Option<String>>,
//! }
//!
//! impl Key {
//!     fn new(password: &str) -> Key {
//!         Key { password: password.into(), ticket: Mutex::new(None) }
//!     }
//! }
//!
//! impl ClientAuth for Key {
//!     fn authenticate(&self, context: AuthContext) -> BoxFuture<'_, netunnel_core::Result<()>> {
//!         Box::pin(async move {
//!             let body = serde_json::json!({"password": self.password});
//!             let answer = context.request(Method::Post, "/authenticate", Some(body)).await?;
//!             let ticket = answer.json()?["ticket"].as_str().map(String::from);
//!             *self.ticket.lock().unwrap() = ticket;
//!             Ok(())
//!         })
//!     }
//!     fn is_authenticated(&self) -> BoxFuture<'_, bool> {
//!         Box::pin(async move { self.ticket.lock().unwrap().is_some() })
//!     }
//!     fn authorized_headers(&self) -> BoxFuture<'_, netunnel_core::Result<Headers>> {
//!         let ticket = self.ticket.lock().unwrap().clone().unwrap_or_default();
//!         Box::pin(async move { Ok(vec![("X-Ticket".to_string(), ticket)]) })
//!     }
//! }
//!
//! # async_std::task::block_on(async {
//! let server = Server::start(ServerOptions::new().port(0).auth(Arc::new(Door))).await?;
//! let rt = AsyncStdRuntime::shared();
//! let connect = |password: &str| {
//!     let options = TransportOptions {
//!         auth: Some(Arc::new(Key::new(password))),
//!         ..Default::default()
//!     };
//!     let transport = HttpTransport::with_options(rt.clone(), &server.url(), options).unwrap();
//!     Client::connected(rt.clone(), Arc::new(transport), ClientSettings::default())
//! };
//! let client = connect("open sesame").await?;
//! assert!(client.is_connected());
//! client.close().await;
//! let refused = connect("guess").await.unwrap_err();
//! assert_eq!(refused.kind(), ErrorKind::Unauthorized);
//! server.stop().await;
//! # Ok::<(), netunnel_core::Error>(())
//! # }).unwrap();
//! ```

mod context;
mod secret;

pub use context::AuthContext;
pub use secret::{SecretClientAuth, SecretServerAuth};

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{Error, Result};

/// HTTP header name and value pairs.
pub type Headers = Vec<(String, String)>;

/// What a server plugin sees of a request.
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string (without `?`), possibly empty.
    pub query: String,
    /// Request headers.
    pub headers: Headers,
    /// The client's address (`ip:port`), when known.
    pub remote_addr: Option<String>,
    /// `http` or `https`: how the request reached this server.
    pub scheme: &'static str,
    /// The body (only for `POST /authenticate`).
    pub body: Vec<u8>,
}

impl AuthRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The answer a server plugin gives to `POST /authenticate`.
#[derive(Debug, Clone)]
pub struct AuthResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Headers,
    /// Response body.
    pub body: Vec<u8>,
}

impl AuthResponse {
    /// A JSON answer with `status`.
    pub fn json(status: u16, value: &serde_json::Value) -> AuthResponse {
        AuthResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }
}

/// The server side of an authentication scheme.
pub trait ServerAuth: Send + Sync {
    /// Whether `request` may proceed (every route but `/authenticate`).
    fn is_authenticated<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, bool>;
    /// Serves `POST /authenticate`.
    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse>;
    /// A client plugin for a peer, from its stored `auth_data`.
    fn client_for_peer<'a>(
        &'a self,
        auth_data: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ClientAuth>>>;
}

/// The client side of an authentication scheme.
pub trait ClientAuth: Send + Sync {
    /// Authenticates with the server `context` names (its transport sends no
    /// authentication headers). A plugin's own failure goes back to the
    /// caller as [`Error::Plugin`] (see [`Error::plugin`]). Reach the server
    /// through the context only: a request through the authenticating
    /// transport itself would wait for this very authentication to finish.
    fn authenticate(&self, context: AuthContext) -> BoxFuture<'_, Result<()>>;
    /// Whether the client is still authenticated (e.g. its token has not expired).
    fn is_authenticated(&self) -> BoxFuture<'_, bool>;
    /// Headers to send with every request.
    fn authorized_headers(&self) -> BoxFuture<'_, Result<Headers>>;
}

/// No authentication: every request is accepted (NETunnel's default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAuth;

impl ServerAuth for NoAuth {
    fn is_authenticated<'a>(&'a self, _request: &'a AuthRequest) -> BoxFuture<'a, bool> {
        Box::pin(async { true })
    }

    fn authenticate<'a>(&'a self, _request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse> {
        Box::pin(async { AuthResponse::json(200, &serde_json::json!({})) })
    }

    fn client_for_peer<'a>(
        &'a self,
        _auth_data: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ClientAuth>>> {
        Box::pin(async { Ok(Arc::new(NoAuth) as Arc<dyn ClientAuth>) })
    }
}

impl ClientAuth for NoAuth {
    fn authenticate(&self, _context: AuthContext) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn is_authenticated(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }

    fn authorized_headers(&self) -> BoxFuture<'_, Result<Headers>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The built-in plugins, by the name `--auth-plugin` takes.
pub const BUILT_IN: [&str; 2] = ["none", "secret"];

/// A built-in server plugin from its name and `--auth-data`.
pub fn server_plugin(name: &str, data: &serde_json::Value) -> Result<Arc<dyn ServerAuth>> {
    match name {
        "none" => Ok(Arc::new(NoAuth)),
        "secret" => Ok(Arc::new(SecretServerAuth::from_data(data)?)),
        other => Err(unknown_plugin(other)),
    }
}

/// A built-in client plugin from its name and `--auth-data`.
pub fn client_plugin(name: &str, data: &serde_json::Value) -> Result<Arc<dyn ClientAuth>> {
    match name {
        "none" => Ok(Arc::new(NoAuth)),
        "secret" => Ok(Arc::new(SecretClientAuth::from_data(data)?)),
        other => Err(unknown_plugin(other)),
    }
}

fn unknown_plugin(name: &str) -> Error {
    if name.contains('.') {
        Error::Config(format!(
            "`{name}` names a plugin written in Python (module.Class): those are loaded by the Python package (`python -m netunnel.server` / `netunnel.client`); built-in plugins: {}",
            BUILT_IN.join(", ")
        ))
    } else {
        Error::Config(format!(
            "unknown authentication plugin `{name}`; built-in plugins: {}",
            BUILT_IN.join(", ")
        ))
    }
}

/// Re-authenticates when `auth` says it is no longer authenticated (with the
/// context `context` makes), then returns its headers, checked (see
/// [`check_headers`]).
pub async fn headers_for(
    auth: &dyn ClientAuth,
    context: impl FnOnce() -> AuthContext,
) -> Result<Headers> {
    if !auth.is_authenticated().await {
        auth.authenticate(context()).await?;
    }
    let headers = auth.authorized_headers().await?;
    check_headers(&headers)?;
    Ok(headers)
}

/// Refuses headers a plugin made up that HTTP cannot carry: a name that is not
/// an RFC 9110 token, a value with CR, LF or NUL. (The REST client would panic
/// on them and the websocket upgrade would write them as they are.)
pub fn check_headers(headers: &Headers) -> Result<()> {
    let is_token_byte = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::Protocol(format!(
                "invalid header name `{name}` from the auth plugin"
            )));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::Protocol(
                "invalid header value from the auth plugin".into(),
            ));
        }
    }
    Ok(())
}
