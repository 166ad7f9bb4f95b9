//! Helpers over the public Rust API, for tests that run servers and clients
//! in process.

use std::sync::Arc;

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::transport::Transport;
use netunnel_core::{AsyncStdRuntime, HttpTransport, Server};

/// A plain HTTP transport to `server`.
pub fn transport_to(server: &Server) -> Arc<dyn Transport> {
    Arc::new(HttpTransport::new(AsyncStdRuntime::shared(), &server.url()).expect("transport"))
}

/// A client of `server`, connected, with the default settings.
pub async fn client_of(server: &Server) -> Client {
    Client::connected(
        AsyncStdRuntime::shared(),
        transport_to(server),
        ClientSettings::default(),
    )
    .await
    .expect("connect")
}
