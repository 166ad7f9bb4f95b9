//! [`AuthContext`]: what a client plugin authenticates with.

use std::sync::Arc;

use crate::error::Result;
use crate::transport::{Method, Reply, Transport};

/// The server a client plugin authenticates with, and a way to reach it that
/// sends no authentication headers (a NETunnel 1.0.x plugin posts to
/// `f"{client.server_url}/authenticate"`). Owned, `Send` and cheap to clone, so
/// a plugin may carry it to another thread (a Python or C callback).
#[derive(Clone)]
pub struct AuthContext {
    server_url: String,
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthContext")
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl AuthContext {
    /// A context for the server at `server_url` (no credentials in it),
    /// reached by `transport` without authentication headers.
    pub fn new(server_url: impl Into<String>, transport: Arc<dyn Transport>) -> AuthContext {
        AuthContext {
            server_url: server_url.into(),
            transport,
        }
    }

    /// The server's URL, path prefix included, e.g. `https://host/netunnel`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Sends one request without authentication headers; `path` is relative
    /// to the server URL (e.g. `/authenticate`).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Reply> {
        self.transport.request(method, path.to_string(), body).await
    }

    /// The unauthenticated transport itself.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }
}
